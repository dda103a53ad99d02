#!/usr/bin/env bash
# Side by side, in one run: converge against the physical bound (writing and
# reading the same files, bench/rawfiles), and against Terraform with the
# hashicorp/local provider when both are found.
#
#   bench/terraform-files.sh [N]        N files in 10 chains (default 1000)
#
# Each file's content names the sha256 of its predecessor in its chain, so
# an edit cascades down the chain. Terraform runs when `terraform` is on the
# PATH and CONVERGE_TF_PLUGIN_DIR names a plugin directory holding
# registry.terraform.io/hashicorp/local (Terraform's filesystem-mirror
# layout); otherwise its column says "-". CONVERGE_BASELINE may name another
# converge binary (an earlier build) to run the same steps in the same run,
# in a column of its own. It prints a Markdown table of seconds (and peak
# memory), with converge's time over the raw bound; the no-op plan and the
# raw read are the median of 5 runs (with CONVERGE_BASELINE, of both builds
# and the raw read in turn, over one state), every other step runs once.
set -euo pipefail

n=${1:-1000}
if (( n < 1000 || n % 1000 != 0 )); then
	echo "terraform-files.sh: N must be a multiple of 1000" >&2
	exit 2
fi
per=$((n / 10))          # files per chain
edit=$((n / 1000))       # 1% of the files is edit files in each of the 10 chains
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/converge" "$repo/cmd/converge"
go build -o "$work/rawfiles" "$repo/bench/rawfiles"

# seconds CMD...: runs CMD, prints its wall time in seconds (to the
# millisecond); its peak RSS goes to $work/rss (kB).
seconds() {
	local t0 t1 s rss
	t0=$(date +%s%N)
	/usr/bin/time -f '%M' -o "$work/time" "$@" >"$work/out" 2>&1 || {
		cat "$work/out" >&2
		return 1
	}
	t1=$(date +%s%N)
	read -r rss <"$work/time"
	echo "$rss" >"$work/rss"
	awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.3f\n", ns / 1e9 }'
}
peak() { cat "$work/rss"; }

# median5 CMD...: the median wall time of 5 runs of CMD, which must leave
# everything as it found it (a plan, a read).
median5() {
	local k
	for ((k = 0; k < 5; k++)); do seconds "$@"; done | sort -n | sed -n 3p
}

# converge: manifests, one file per chain.
manifests() { # $1: dir, $2: word for the edited files at the chain ends, $3: word for mid-chain
	local dir=$1 end=$2 mid=$3 c i word
	rm -rf "$dir" && mkdir -p "$dir"
	for ((c = 0; c < 10; c++)); do
		{
			# local_file makes the directories it needs; file.File wants
			# them declared.
			echo "kind: file.Directory"
			echo "metadata: {name: c$c}"
			echo "spec: {path: c$c}"
			for ((i = 0; i < per; i++)); do
				word=file
				if ((i >= per - edit)); then word=$end; fi
				if ((i >= per / 2 && i < per / 2 + edit)); then word=$mid; fi
				echo "---"
				echo "kind: file.File"
				echo "metadata: {name: c$c-f$i}"
				if ((i == 0)); then
					echo "dependsOn: [file.Directory/c$c]"
					printf 'spec: {path: c%d/f%d.txt, content: "chain %d %s %d after \\n"}\n' "$c" "$i" "$c" "$word" "$i"
				else
					printf 'spec: {path: c%d/f%d.txt, content: "chain %d %s %d after ${file.File/c%d-f%d.outputs.sha256}\\n"}\n' "$c" "$i" "$c" "$word" "$i" "$c" $((i - 1))
				fi
			done
		} >"$dir/chain$c.yaml"
	done
	mkdir -p "$(dirname "$dir")/root"
}

# terraform: the same files.
tfconfig() { # $1: dir, $2 and $3 as for manifests
	local dir=$1 end=$2 mid=$3 c i word
	mkdir -p "$dir"
	{
		for ((c = 0; c < 10; c++)); do
			for ((i = 0; i < per; i++)); do
				word=file
				if ((i >= per - edit)); then word=$end; fi
				if ((i >= per / 2 && i < per / 2 + edit)); then word=$mid; fi
				echo "resource \"local_file\" \"c${c}_f$i\" {"
				echo "  filename = \"\${path.module}/root/c$c/f$i.txt\""
				if ((i == 0)); then
					echo "  content  = \"chain $c $word $i after \\n\""
				else
					echo "  content  = \"chain $c $word $i after \${local_file.c${c}_f$((i - 1)).content_sha256}\\n\""
				fi
				echo "}"
			done
		done
	} >"$dir/main.tf"
}

delete_some() { # $1: root; removes 1% of the files, at the chain starts
	local c i
	for ((c = 0; c < 10; c++)); do
		for ((i = 0; i < edit; i++)); do rm -f "$1/c$c/f$i.txt"; done
	done
}

declare -A cv bl tf raw
cvmem=- blmem=- tfmem=-

# The raw bound.
raw[apply]=$(seconds "$work/rawfiles" write "$work/raw" "$n")
raw[plan]=$(median5 "$work/rawfiles" read "$work/raw" "$n")

# converge: every step, with the binary $1 in the directory $2, into the
# array named $3.
converge_steps() {
	local bin=$1 dir=$2
	local -n t=$3
	cvrun() { (cd "$dir" && seconds "$bin" "$@" --root root --state state.db); }
	cvrun5() { (cd "$dir" && median5 "$bin" "$@" --root root --state state.db); }
	manifests "$dir/m" file file
	t[apply]=$(cvrun apply -f m)
	t[mem]=$(peak)
	if [[ $3 == cv && -n ${CONVERGE_BASELINE:-} ]]; then
		# The no-op plan of both builds over this one state, alternately,
		# and the raw read between them.
		local k
		for ((k = 0; k < 5; k++)); do
			cvrun plan -f m >>"$work/plan.cv"
			(cd "$dir" && seconds "$CONVERGE_BASELINE" plan -f m --root root --state state.db) >>"$work/plan.bl"
			seconds "$work/rawfiles" read "$work/raw" "$n" >>"$work/plan.raw"
		done
		t[plan]=$(sort -n "$work/plan.cv" | sed -n 3p)
	else
		t[plan]=$(cvrun5 plan -f m)
	fi
	manifests "$dir/m" FILE file
	t[ends]=$(cvrun apply -f m)
	manifests "$dir/m" FILE FILE
	t[mid]=$(cvrun apply -f m)
	delete_some "$dir/root"
	t[planrm]=$(cvrun plan -f m)
	t[repair]=$(cvrun apply -f m)
	t[destroy]=$(cvrun destroy --yes)
	if [[ -n $(find "$dir/root" -type f) ]]; then
		echo "terraform-files.sh: converge destroy left files behind" >&2
		exit 1
	fi
}
converge_steps "$work/converge" "$work/cv" cv
cvmem=${cv[mem]}
if [[ -n ${CONVERGE_BASELINE:-} ]]; then
	# ext4 without a journal passes over the inodes deleted in the last
	# 30 s when it makes a file: the destroy just before would slow the
	# next apply from empty.
	sleep 31
	converge_steps "$CONVERGE_BASELINE" "$work/bl" bl
	blmem=${bl[mem]}
	bl[plan]=$(sort -n "$work/plan.bl" | sed -n 3p) # beside converge's, above
	raw[plan]=$(sort -n "$work/plan.raw" | sed -n 3p)
	# The raw write once more, after both: the ratios take the mean.
	r1=$(seconds "$work/rawfiles" write "$work/raw2" "$n")
	raw[apply]=$(awk -v a="${raw[apply]}" -v b="$r1" 'BEGIN { printf "%.3f", (a + b) / 2 }')
fi

# Terraform, when it can run here.
plugins=${CONVERGE_TF_PLUGIN_DIR:-}
if command -v terraform >/dev/null && [[ -n $plugins && -d $plugins/registry.terraform.io/hashicorp/local ]]; then
	mkdir -p "$work/tf"
	cat >"$work/tf/cli.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$(cd "$plugins" && pwd)"
    include = ["registry.terraform.io/hashicorp/local"]
  }
  direct { exclude = ["registry.terraform.io/hashicorp/local"] }
}
EOF
	export TF_CLI_CONFIG_FILE=$work/tf/cli.tfrc TF_IN_AUTOMATION=1
	tfrun() { (cd "$work/tf" && seconds terraform "$@" -input=false -no-color); }
	tfconfig "$work/tf" file file
	(cd "$work/tf" && terraform init -input=false -no-color >/dev/null)
	tf[apply]=$(tfrun apply -auto-approve); tfmem=$(peak)
	tf[plan]=$(tfrun plan)
	tfconfig "$work/tf" FILE file
	tf[ends]=$(tfrun apply -auto-approve)
	tfconfig "$work/tf" FILE FILE
	tf[mid]=$(tfrun apply -auto-approve)
	delete_some "$work/tf/root"
	tf[planrm]=$(tfrun plan)
	tf[repair]=$(tfrun apply -auto-approve)
	tf[destroy]=$(tfrun destroy -auto-approve)
fi

ratio() { [[ -n ${2:-} ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", (b > 0 ? a / b : 0) }' || echo -; }
echo "$n files in 10 chains ($(nproc) cores, $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
if [[ -n ${CONVERGE_BASELINE:-} ]]; then
	echo "| step | Terraform | baseline | converge | raw bound | baseline / raw | converge / raw |"
	echo "|---|---|---|---|---|---|---|"
	row() { echo "| $1 | ${tf[$2]:--} s | ${bl[$2]} s | ${cv[$2]} s | ${3:--}${3:+ s} | $(ratio "${bl[$2]}" "${3:-}") | $(ratio "${cv[$2]}" "${3:-}") |"; }
	memrow() { echo "| peak memory of apply | ${tfmem} kB | ${blmem} kB | ${cvmem} kB | | | |"; }
else
	echo "| step | Terraform | converge | raw bound | converge / raw |"
	echo "|---|---|---|---|---|"
	row() { echo "| $1 | ${tf[$2]:--} s | ${cv[$2]} s | ${3:--}${3:+ s} | $(ratio "${cv[$2]}" "${3:-}") |"; }
	memrow() { echo "| peak memory of apply | ${tfmem} kB | ${cvmem} kB | | |"; }
fi
row "apply from empty" apply "${raw[apply]}"
row "no-op plan" plan "${raw[plan]}"
row "apply after editing 1% at the chain ends" ends
row "apply after editing 1% mid-chain ($((n / 2)) files cascade)" mid
row "plan after deleting 1% by hand" planrm
row "apply that repairs it" repair
row "destroy" destroy
memrow
