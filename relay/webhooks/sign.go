package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/relay/store"
)

// Headers of a webhook request, as the Standard Webhooks specification
// names them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Sign returns the webhook-signature header of a message: for each secret
// (whsec_ and the base64 of the key), "v1," and the base64 of
// HMAC-SHA256(key, msgID "." unix seconds "." body), space separated. During
// a rotation's overlap there are several secrets, newest first, and a
// receiver that knows any one of them verifies the message.
func Sign(msgID string, ts time.Time, body []byte, secrets []string) (string, error) {
	if msgID == "" || strings.ContainsAny(msgID, ". ") {
		// The id is part of the signed content, delimited by dots.
		return "", fmt.Errorf("sign: message id %q must be non-empty, without dots or spaces", msgID)
	}
	if len(secrets) == 0 {
		return "", errors.New("sign: no signing secret")
	}
	prefix := msgID + "." + strconv.FormatInt(ts.Unix(), 10) + "."
	var sig strings.Builder
	for i, secret := range secrets {
		key, err := secretKey(secret)
		if err != nil {
			return "", err
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(prefix))
		mac.Write(body)
		if i > 0 {
			sig.WriteByte(' ')
		}
		sig.WriteString("v1,")
		sig.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return sig.String(), nil
}

// secretKey decodes a whsec_ secret into its HMAC key.
func secretKey(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, store.WebhookSecretPrefix)
	if !ok {
		return nil, fmt.Errorf("sign: secret without the %s prefix", store.WebhookSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) < 24 {
		// The specification asks for at least 24 random bytes.
		return nil, fmt.Errorf("sign: secret is not the base64 of at least 24 bytes")
	}
	return key, nil
}

// setSignedHeaders sets the three Standard Webhooks headers of a request.
func setSignedHeaders(h http.Header, msgID string, ts time.Time, body []byte, secrets []string) error {
	sig, err := Sign(msgID, ts, body, secrets)
	if err != nil {
		return err
	}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}
