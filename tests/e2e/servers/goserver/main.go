// An unmodified Go net/http server with the same paths as status_server.py.
package main

import (
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/slow"):
			time.Sleep(50 * time.Millisecond)
			w.Write([]byte("ok\n"))
		case strings.HasPrefix(r.URL.Path, "/missing"):
			http.NotFound(w, r)
		case strings.HasPrefix(r.URL.Path, "/err"):
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			w.Write([]byte("ok\n"))
		}
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Args[1], nil); err != nil {
		panic(err)
	}
}
