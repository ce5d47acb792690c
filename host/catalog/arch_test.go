package catalog

import "testing"

// Each 64-bit platform's 32-bit sibling is one its OS runs and Go builds
// for (go tool dist list); where there is none, --run-as-32 says so.
func TestArch32(t *testing.T) {
	for _, tt := range []struct {
		goos, goarch, want string // want "": none
	}{
		{"linux", "amd64", "386"},
		{"linux", "arm64", "arm"},
		{"windows", "amd64", "386"},
		{"windows", "arm64", "386"}, // Windows on Arm runs x86, and has no 32-bit Arm port
		{"freebsd", "amd64", "386"},
		{"freebsd", "arm64", "arm"},
		{"netbsd", "arm64", "arm"},
		{"openbsd", "amd64", "386"},
		{"openbsd", "arm64", "arm"},
		{"android", "arm64", "arm"},
		{"darwin", "amd64", ""}, // macOS runs no 32-bit programs
		{"darwin", "arm64", ""},
		{"ios", "arm64", ""},
		{"illumos", "amd64", ""}, // no illumos/386 port
		{"dragonfly", "amd64", ""},
		{"linux", "386", ""}, // already 32-bit
		{"linux", "arm", ""},
		{"linux", "riscv64", ""},
		{"linux", "ppc64le", ""},
		{"linux", "s390x", ""},
	} {
		got, ok := Arch32(tt.goos, tt.goarch)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Arch32(%s, %s) = %q, %v; want %q", tt.goos, tt.goarch, got, ok, tt.want)
		}
	}
}
