package fence

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// labMethod asks the lab's emulated power switch (its "PDU") to kill a
// node. Plain HTTP is enough: the lab's networks reach nothing outside.
type labMethod struct {
	file   string // layout.LabPDUPath unless a test says otherwise
	client *http.Client
}

func (m *labMethod) fence(ctx context.Context, a *attempt) error {
	address, token, err := readLabPDU(m.file)
	if err != nil {
		return a.fail("reading the lab power switch's settings", err, "that this node is a node of `hactl lab`, which writes "+m.file)
	}
	a.secrets = append(a.secrets, token)
	check := "that the lab is running and its power switch listens on " + address
	u := "http://" + address + "/" + a.fc.action + "/" + url.PathEscape(a.node)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return a.fail("building the request to the lab power switch", err, "the address in "+m.file)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := m.client.Do(req)
	if err != nil {
		return a.fail("asking the lab power switch", err, check)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "off" {
		err := &statusError{what: "POST " + req.URL.Path, code: resp.StatusCode, body: body}
		if resp.StatusCode == http.StatusOK {
			return a.fail("asking the lab power switch", fmt.Errorf("%v: the answer is not \"off\"", err), check)
		}
		return a.fail("asking the lab power switch", err, check+", and that the token in "+m.file+" is the lab's")
	}
	return nil
}

// readLabPDU reads the lab's key=value file: address=IP:PORT, token=….
func readLabPDU(path string) (address, token string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, value, _ := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		switch strings.TrimSpace(key) {
		case "address":
			address = strings.TrimSpace(value)
		case "token":
			token = strings.TrimSpace(value)
		}
	}
	var missing []error
	if address == "" {
		missing = append(missing, fmt.Errorf("%s has no address=IP:PORT line", path))
	}
	if token == "" {
		missing = append(missing, fmt.Errorf("%s has no token= line", path))
	}
	return address, token, errors.Join(missing...)
}

// LabPDUHandler is the lab's emulated power switch, for the lab to serve
// in its control namespace at the address it writes in every node's
// layout.LabPDUPath. It answers POST /off/NODE and POST /reboot/NODE carrying
// "Authorization: Bearer TOKEN" by calling kill (a reboot is a kill too:
// the switch cuts the power, and bringing the node back is the lab's
// business), then "200 off" once kill returned nil. A wrong or missing
// token gets 401, a failed kill 500 with its error. An empty token
// refuses every request.
func LabPDUHandler(token string, kill func(ctx context.Context, node string) error) http.Handler {
	power := func(w http.ResponseWriter, r *http.Request) {
		if !bearer(r, token) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		node := r.PathValue("node")
		if err := kill(r.Context(), node); err != nil {
			http.Error(w, fmt.Sprintf("killing %s: %v", node, err), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "off\n")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /off/{node}", power)
	mux.HandleFunc("POST /reboot/{node}", power)
	return mux
}

// bearer reports whether r carries the token, compared in constant time.
func bearer(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}
