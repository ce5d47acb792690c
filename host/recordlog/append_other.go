//go:build !unix

package recordlog

// appendChecked writes batch's checked frames at the end of the log in one
// write, gathered first, and returns how many bytes it wrote.
func (w *Writer) appendChecked(batch []byte) (int64, error) {
	var err error
	if w.buf, err = AppendChecked(w.buf[:0], batch); err != nil {
		return 0, err
	}
	if _, err := w.f.Write(w.buf); err != nil {
		return 0, err
	}
	return int64(len(w.buf)), nil
}
