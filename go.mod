module github.com/convergehq/converge

go 1.26.8
