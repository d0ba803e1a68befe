// An HTTPS server on Go's crypto/tls, for the TLS end-to-end test: its TLS is statically linked,
// so the agent must report it as "TLS not visible" rather than parse its ciphertext.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: e2e-go-tls PORT CERT KEY")
		os.Exit(2)
	}
	http.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	err := http.ListenAndServeTLS("127.0.0.1:"+os.Args[1], os.Args[2], os.Args[3], nil)
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
