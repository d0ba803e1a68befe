// A minimal Go net/http server for bench/run.py: a small fixed body on every path.
// Built with Debian's golang (GO111MODULE=off), it uses Go's own netpoller and syscalls, which
// is what the Go workload measures Loupe against.
package main

import (
	"log"
	"net/http"
	"os"
)

var body = []byte("hello from go\n")

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go_server PORT")
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Args[1], nil))
}
