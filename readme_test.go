package kastor_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The README's Go snippets that are whole programs (they start with "package") must compile as
// pasted. Each is built inside this module through a build overlay, so nothing is written to the
// source tree.
func TestReadmeSnippetsCompile(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to compile the README's snippets: %v", err)
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	overlay := map[string]string{}
	var pkgs []string
	dir := t.TempDir()
	for i, block := range strings.Split(string(readme), "```go\n")[1:] {
		end := strings.Index(block, "```")
		if end < 0 {
			t.Fatalf("snippet %d is not closed", i)
		}
		code := block[:end]
		if !strings.HasPrefix(code, "package ") {
			continue // a fragment, not a program
		}
		src := filepath.Join(dir, "snippet"+strconv.Itoa(i)+".go")
		if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		pkg := filepath.Join("internal", "readmesnippet"+strconv.Itoa(i))
		overlay[filepath.Join(root, pkg, "main.go")] = src
		pkgs = append(pkgs, "./"+filepath.ToSlash(pkg))
	}
	if len(pkgs) == 0 {
		t.Fatal("README.md has no Go program to compile")
	}
	ov, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		t.Fatal(err)
	}
	ovPath := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin") + string(filepath.Separator) // binaries go there, not into the tree
	cmd := exec.Command(goTool, append([]string{"build", "-overlay", ovPath, "-o", bin}, pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("README snippets do not compile: %v\n%s", err, out)
	}
}
