// Package pemcert reads X.509 certificates from PEM files (the TSA's CA,
// TLS roots), for the configuration check and the evidence code alike.
package pemcert

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// Read returns every CERTIFICATE block of the PEM file at path, in order.
// Other block types are skipped; a file without a certificate is an error.
func Read(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificates: %w", err)
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read certificates from %s: certificate %d: %w", path, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("read certificates from %s: no PEM certificate found", path)
	}
	return certs, nil
}

// Pool returns the certificates of the PEM file at path as a pool.
func Pool(path string) (*x509.CertPool, error) {
	certs, err := Read(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}
