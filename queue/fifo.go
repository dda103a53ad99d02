package queue

// fifo is a growable ring buffer. Unlike a re-sliced slice it reuses its
// storage, so a steady-state queue allocates nothing per key.
type fifo[T any] struct {
	buf  []T
	head int // index of the first element
	n    int // number of elements
}

func (f *fifo[T]) len() int { return f.n }

func (f *fifo[T]) push(v T) {
	if f.n == len(f.buf) {
		f.grow()
	}
	i := f.head + f.n
	if i >= len(f.buf) {
		i -= len(f.buf)
	}
	f.buf[i] = v
	f.n++
}

// pop removes and returns the first element. The fifo must not be empty.
func (f *fifo[T]) pop() T {
	v := f.buf[f.head]
	var zero T
	f.buf[f.head] = zero // let the garbage collector reclaim what v refers to
	f.head++
	if f.head == len(f.buf) {
		f.head = 0
	}
	f.n--
	return v
}

// reset drops every element and releases the storage.
func (f *fifo[T]) reset() { *f = fifo[T]{} }

func (f *fifo[T]) grow() {
	size := 2 * len(f.buf)
	if size == 0 {
		size = 16
	}
	buf := make([]T, size)
	m := copy(buf, f.buf[f.head:])
	copy(buf[m:], f.buf[:f.head])
	f.buf = buf
	f.head = 0
}
