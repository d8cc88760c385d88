package evidence

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"

	"mimamori/internal/pemcert"
)

// TimestampName is the RFC 3161 token file of a bundle. It is an addendum:
// the token signs the manifest, so the manifest cannot list it; verify
// checks it against the manifest's hash and the TSA's CA, and the chain
// records its hash when it is stored.
const TimestampName = "timestamp.tsr"

// TSAOptions configures the RFC 3161 time-stamping authority.
type TSAOptions struct {
	// URL of the TSA; empty disables trusted timestamps.
	URL string
	// CAFile holds the PEM certificate(s) the TSA's certificate must chain
	// to. Roots, when set, is used instead.
	CAFile string
	Roots  *x509.CertPool
	// Timeout bounds one request (default 15s).
	Timeout time.Duration
	// PolicyOID asks the TSA for a policy (optional, dotted form).
	PolicyOID string
	// Client overrides the HTTP client (tests).
	Client *http.Client
}

// TokenInfo describes a verified token.
type TokenInfo struct {
	Time          time.Time `json:"time"`
	Accuracy      string    `json:"accuracy,omitempty"`
	Serial        string    `json:"serial"`
	Policy        string    `json:"policy"`
	TSA           string    `json:"tsa_subject"`
	TSACertSHA256 string    `json:"tsa_cert_sha256"`
	// ChainVerified says the TSA certificate chains to the configured CA.
	ChainVerified bool `json:"chain_verified"`
}

// LoadCAFile reads PEM certificates into a pool.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pool, err := pemcert.Pool(path)
	if err != nil {
		return nil, fmt.Errorf("TSA CA file: %w", err)
	}
	return pool, nil
}

type tsaClient struct {
	url     string
	roots   *x509.CertPool
	timeout time.Duration
	policy  asn1.ObjectIdentifier
	client  *http.Client
}

func newTSAClient(o TSAOptions) (*tsaClient, error) {
	if o.URL == "" {
		return nil, nil
	}
	c := &tsaClient{url: o.URL, roots: o.Roots, timeout: o.Timeout, client: o.Client}
	if c.timeout <= 0 {
		c.timeout = 15 * time.Second
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: c.timeout}
	}
	if c.roots == nil && o.CAFile != "" {
		p, err := LoadCAFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		c.roots = p
	}
	if o.PolicyOID != "" {
		oid, err := parseOID(o.PolicyOID)
		if err != nil {
			return nil, fmt.Errorf("TSA policy %q: %w", o.PolicyOID, err)
		}
		c.policy = oid
	}
	return c, nil
}

// ErrTSAUnavailable wraps failures to obtain a token (network, HTTP, a
// refusal by the TSA); the capture stands and the token is fetched later.
var ErrTSAUnavailable = errors.New("TSA unavailable")

// stamp asks the TSA for a token over digest (a SHA-256) and checks the
// answer: status, signature, imprint, nonce and the chain to the CA.
func (c *tsaClient) stamp(ctx context.Context, digest []byte) ([]byte, TokenInfo, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, TokenInfo{}, err
	}
	req := timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, Certificates: true, Nonce: nonce, TSAPolicyOID: c.policy}
	der, err := req.Marshal()
	if err != nil {
		return nil, TokenInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(der))
	if err != nil {
		return nil, TokenInfo{}, err
	}
	hreq.Header.Set("Content-Type", "application/timestamp-query")
	hreq.Header.Set("Accept", "application/timestamp-reply")
	resp, err := c.client.Do(hreq)
	if err != nil {
		return nil, TokenInfo{}, fmt.Errorf("%w: %s: %w", ErrTSAUnavailable, c.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, TokenInfo{}, fmt.Errorf("%w: %s: read answer: %w", ErrTSAUnavailable, c.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, TokenInfo{}, fmt.Errorf("%w: %s answered HTTP %d", ErrTSAUnavailable, c.url, resp.StatusCode)
	}
	info, problems, err := checkToken(body, digest, c.roots, nonce)
	if err != nil {
		return nil, TokenInfo{}, fmt.Errorf("%w: %s: %w", ErrTSAUnavailable, c.url, err)
	}
	if len(problems) > 0 {
		return nil, TokenInfo{}, fmt.Errorf("%w: %s: token rejected: %s", ErrTSAUnavailable, c.url, problems[0])
	}
	return body, info, nil
}

var oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

type essCertIDv2 struct {
	HashAlgorithm asn1.RawValue `asn1:"optional"`
	CertHash      []byte
	IssuerSerial  asn1.RawValue `asn1:"optional"`
}

type signingCertificateV2 struct {
	Certs    []essCertIDv2
	Policies asn1.RawValue `asn1:"optional"`
}

// checkToken verifies a TimeStampResp: it parses it (digitorus/timestamp
// checks only the CMS signature) and then checks what that does not: the
// token carries the signer's certificate, the imprint is SHA-256 of the
// manifest, the nonce (when given) is ours, the signer certificate is a TSA
// certificate (critical extended key usage timeStamping only), the ESS
// signing-certificate-v2 attribute names it, and, when roots is set, it
// chains to the configured CA at the token's time. err means the token
// could not be parsed at all; problems lists failed checks.
func checkToken(resp, digest []byte, roots *x509.CertPool, nonce *big.Int) (TokenInfo, []string, error) {
	var info TokenInfo
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		return info, nil, fmt.Errorf("not a valid timestamp response: %w", err)
	}
	var problems []string
	info.Time = ts.Time.UTC()
	if ts.SerialNumber != nil {
		info.Serial = ts.SerialNumber.String()
	}
	info.Policy = ts.Policy.String()
	if ts.Accuracy > 0 {
		info.Accuracy = ts.Accuracy.String()
	}
	if len(ts.Certificates) == 0 {
		problems = append(problems, "token carries no certificate, so its signature cannot be checked")
		return info, problems, nil
	}
	if ts.HashAlgorithm != crypto.SHA256 {
		problems = append(problems, fmt.Sprintf("imprint uses %v, not SHA-256", ts.HashAlgorithm))
	}
	if !bytes.Equal(ts.HashedMessage, digest) {
		problems = append(problems, fmt.Sprintf("imprint %s is not the manifest's SHA-256 %s", hex.EncodeToString(ts.HashedMessage), hex.EncodeToString(digest)))
	}
	if nonce != nil && (ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0) {
		problems = append(problems, "nonce does not match the request")
	}
	p7, err := pkcs7.Parse(ts.RawToken)
	if err != nil {
		return info, nil, fmt.Errorf("token: %w", err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		problems = append(problems, "token has no single signer certificate")
		return info, problems, nil
	}
	info.TSA = signer.Subject.String()
	info.TSACertSHA256 = sha256Hex(signer.Raw)
	ekuCritical := false
	for _, ext := range signer.Extensions {
		if ext.Id.Equal(oidExtKeyUsage) {
			ekuCritical = ext.Critical
		}
	}
	if len(signer.ExtKeyUsage) != 1 || signer.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || !ekuCritical {
		problems = append(problems, "signer certificate is not a TSA certificate (RFC 3161 wants a critical extended key usage of timeStamping only)")
	}
	var scv2 signingCertificateV2
	if err := p7.UnmarshalSignedAttribute(oidSigningCertificateV2, &scv2); err == nil && len(scv2.Certs) > 0 {
		// The default hash of ESSCertIDv2 is SHA-256; other hashes are
		// left to openssl ts -verify.
		if len(scv2.Certs[0].HashAlgorithm.FullBytes) == 0 || bytes.Contains(scv2.Certs[0].HashAlgorithm.FullBytes, []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}) {
			if want := sha256.Sum256(signer.Raw); !bytes.Equal(scv2.Certs[0].CertHash, want[:]) {
				problems = append(problems, "signing-certificate attribute does not name the signer certificate")
			}
		}
	}
	if roots != nil {
		inter := x509.NewCertPool()
		for _, c := range p7.Certificates {
			inter.AddCert(c)
		}
		_, err := signer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: ts.Time,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}})
		if err != nil {
			problems = append(problems, "TSA certificate does not chain to the configured CA: "+err.Error())
		} else {
			info.ChainVerified = true
		}
	}
	return info, problems, nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	n, seen := 0, false
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if !seen {
				return nil, errors.New("not a dotted OID")
			}
			oid = append(oid, n)
			n, seen = 0, false
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return nil, errors.New("not a dotted OID")
		}
		n = n*10 + int(s[i]-'0')
		seen = true
	}
	if len(oid) < 2 {
		return nil, errors.New("not a dotted OID")
	}
	return oid, nil
}
