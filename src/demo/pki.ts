/**
 * A throwaway certificate authority for the demo and the tests: one CA, and leaf certificates
 * for given DNS names and IPs, signed by it. Keys come from node:crypto (fast, native); node-forge
 * only builds and signs the X.509 structures, which node:crypto cannot do.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface CertificateAuthority {
  /** PEM of the CA certificate: give it to clients as `ca`. */
  readonly certPem: string;
  /** Issue a server certificate for these names (DNS names or IP literals). */
  issue(names: readonly string[], options?: { validForDays?: number; notBefore?: Date }): IssuedCertificate;
}

export interface IssuedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+:[0-9a-f:]*)$/i;

function newKeyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey),
    privateKey: forge.pki.privateKeyFromPem(privateKey),
    keyPem: privateKey,
  };
}

function serial(): string {
  // Positive, 16 random bytes: leading 0 nibble keeps the DER integer positive.
  return '0' + randomBytes(16).toString('hex').slice(1);
}

function validity(cert: forge.pki.Certificate, days: number, notBefore?: Date): void {
  const start = notBefore ?? new Date(Date.now() - 5 * 60_000);
  cert.validity.notBefore = start;
  cert.validity.notAfter = new Date(start.getTime() + days * 86_400_000);
}

export function createCertificateAuthority(commonName = 't3-probe throwaway CA'): CertificateAuthority {
  const caKeys = newKeyPair();
  const caCert = forge.pki.createCertificate();
  caCert.publicKey = caKeys.publicKey;
  caCert.serialNumber = serial();
  validity(caCert, 30);
  const caSubject = [{ name: 'commonName', value: commonName }];
  caCert.setSubject(caSubject);
  caCert.setIssuer(caSubject);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(caKeys.privateKey, forge.md.sha256.create());

  return {
    certPem: forge.pki.certificateToPem(caCert),
    issue(names, options = {}) {
      if (names.length === 0) throw new RangeError('issue: at least one name is required');
      const keys = newKeyPair();
      const cert = forge.pki.createCertificate();
      cert.publicKey = keys.publicKey;
      cert.serialNumber = serial();
      validity(cert, options.validForDays ?? 7, options.notBefore);
      cert.setSubject([{ name: 'commonName', value: names[0] ?? '' }]);
      cert.setIssuer(caSubject);
      cert.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: names.map((n) => (IP_LITERAL.test(n) ? { type: 7, ip: n } : { type: 2, value: n })),
        },
      ]);
      cert.sign(caKeys.privateKey, forge.md.sha256.create());
      return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
    },
  };
}
