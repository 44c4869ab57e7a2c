// Command pause is the only process of the pod sandbox ("pause") image that the real test node's
// containerd starts for every pod: it holds the pod's namespaces by sleeping until SIGTERM or SIGINT, and
// reaps orphans when it is PID 1 of a shared PID namespace. Built static (CGO_ENABLED=0) by
// `python hack/images.py pause`; the standard library only, so no module or download is needed.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
