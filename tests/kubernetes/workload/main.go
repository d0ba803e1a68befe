// The cluster test's workload, one static binary in a one-file image (no base image, nothing
// pulled): `serve ADDR` answers GET /ok with 200 and everything else with 404; `get URL...`
// requests each URL once, each on a new connection, prints one line per answer and exits 0 when
// every request was answered (any status), 1 otherwise.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func serve(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return http.ListenAndServe(addr, mux)
}

func get(urls []string) error {
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	for _, url := range urls {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %d\n", url, resp.StatusCode)
	}
	return nil
}

func main() {
	if len(os.Args) < 3 || (os.Args[1] != "serve" && os.Args[1] != "get") {
		fmt.Fprintln(os.Stderr, "usage: workload serve ADDR | workload get URL...")
		os.Exit(2)
	}
	var err error
	if os.Args[1] == "serve" {
		err = serve(os.Args[2])
	} else {
		err = get(os.Args[2:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
