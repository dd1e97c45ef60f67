import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { libtrustKeyId } from '../../lib/auth/kid.js'
import { run } from '../../demo/process.js'

export interface SigningKey {
  readonly key: KeyObject
  readonly cert: X509Certificate
  /** libtrust KeyID of the certificate's key, as Harbor puts it in `kid`. */
  readonly kid: string
}

export interface TokenKeys {
  /** RS256 signer with a self-signed certificate, like Harbor's `root.crt`. */
  readonly rsa: SigningKey
  /** ES256 signer whose certificate a separate root CA issued: tokens carry `x5c` [leaf, root]. */
  readonly ecLeaf: SigningKey
  readonly ecRoot: X509Certificate
  readonly x5c: readonly string[]
  /** A key no configured certificate names. */
  readonly unknown: SigningKey
  /** rsa's certificate and the EC root: distribution's `rootcertbundle`. */
  readonly bundlePath: string
}

const openssl = (args: string[]) => run('openssl', args, { timeoutMs: 60_000 })

async function load(dir: string, name: string): Promise<SigningKey> {
  const cert = new X509Certificate(await fs.readFile(path.join(dir, `${name}.crt`)))
  return { key: createPrivateKey(await fs.readFile(path.join(dir, `${name}.key`))), cert, kid: libtrustKeyId(cert.publicKey) }
}

/** Makes the test's signing keys and certificates with the openssl CLI, as an operator would. */
export async function makeTokenKeys(dir: string): Promise<TokenKeys> {
  await fs.mkdir(dir, { recursive: true })
  const p = (f: string) => path.join(dir, f)
  const selfSigned = (name: string, keyArgs: string[], extra: string[] = []) =>
    openssl(['req', '-x509', '-newkey', ...keyArgs, '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.crt`), '-days', '2', '-subj', `/CN=layerseed-test-${name}`, ...extra])
  await selfSigned('rsa', ['rsa:2048'])
  await selfSigned('unknown', ['rsa:2048'])
  await selfSigned('ec-root', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'])
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('ec-leaf.key'), '-out', p('ec-leaf.csr'), '-subj', '/CN=layerseed-test-token-signer'])
  await openssl(['x509', '-req', '-in', p('ec-leaf.csr'), '-CA', p('ec-root.crt'), '-CAkey', p('ec-root.key'), '-CAcreateserial', '-out', p('ec-leaf.crt'), '-days', '1'])
  const [rsa, unknown, ecLeaf] = await Promise.all([load(dir, 'rsa'), load(dir, 'unknown'), load(dir, 'ec-leaf')])
  const ecRoot = new X509Certificate(await fs.readFile(p('ec-root.crt')))
  const bundlePath = p('bundle.pem')
  await fs.writeFile(bundlePath, rsa.cert.toString() + ecRoot.toString())
  return { rsa, ecLeaf, ecRoot, x5c: [ecLeaf.cert.raw.toString('base64'), ecRoot.raw.toString('base64')], unknown, bundlePath }
}
