// The token verifier against tokens signed the way Harbor and distribution's
// token servers sign them, with keys and certificates made by the openssl CLI.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createPublicKey, createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { calculateJwkThumbprint, exportJWK, SignJWT, type JWTHeaderParameters, type JWTPayload } from 'jose'
import { jwkThumbprints, libtrustKeyId } from '../lib/auth/kid.js'
import { JoseTokenVerifier } from '../lib/auth/jose-verifier.js'
import { KeySet, parseJwks, parsePemBundle, readKeySet } from '../lib/auth/keys.js'
import { InsufficientScopeError, InvalidTokenError } from '../lib/auth/verifier.js'
import { RepoName } from '../lib/core/domain.js'
import { run } from '../demo/process.js'
import { fakeClock } from './helpers/fake-clock.js'
import { makeTokenKeys, type TokenKeys } from './helpers/token-keys.js'

const ISSUER = 'test-issuer'
const SERVICE = 'test-registry'
const REPO = RepoName.parse('library/app')
const pull = [{ type: 'repository', name: 'library/app', actions: ['pull'] }]
const b64u = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')

describe('key names', () => {
  // The EC key of distribution's docs/content/spec/auth/jwt.md.
  const docKey = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: 'm7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q', y: 'dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc' }, format: 'jwk' })

  it('computes the libtrust KeyID of the spec example', () => {
    assert.equal(libtrustKeyId(docKey), 'PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6')
  })

  it('computes the RFC 7638 thumbprint of the spec example, as jose does', async () => {
    assert.deepEqual(jwkThumbprints(docKey), ['8qjioA3ZA7ti2JIE7c-U8smBFuZolQZvhSHDPU3hhB8'])
    assert.equal(await calculateJwkThumbprint(await exportJWK(docKey)), '8qjioA3ZA7ti2JIE7c-U8smBFuZolQZvhSHDPU3hhB8')
  })

  it('also gives the thumbprint Go computes when an EC coordinate starts with a zero byte', async () => {
    let key: KeyObject | undefined
    for (let i = 0; i < 5000 && !key; i++) {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jwk = publicKey.export({ format: 'jwk' })
      if (Buffer.from(jwk.x!, 'base64url')[0] === 0 || Buffer.from(jwk.y!, 'base64url')[0] === 0) key = publicKey
    }
    assert.ok(key, 'no EC key with a leading zero byte in 5000 tries')
    const jwk = key.export({ format: 'jwk' })
    const strip = (c: string) => {
      const b = Buffer.from(c, 'base64url')
      let i = 0
      while (b[i] === 0) i++
      return b.subarray(i).toString('base64url')
    }
    // Go's util.go writes big.Int.Bytes() of each coordinate: no leading zeros.
    const goString = `{"crv":"P-256","kty":"EC","x":"${strip(jwk.x!)}","y":"${strip(jwk.y!)}"}`
    const goThumbprint = createHash('sha256').update(goString).digest('base64url')
    const exact = await calculateJwkThumbprint(await exportJWK(key))
    assert.notEqual(goThumbprint, exact)
    assert.deepEqual(jwkThumbprints(key), [exact, goThumbprint])
  })
})

describe('JoseTokenVerifier', () => {
  let root: string
  let keys: TokenKeys
  let jwksKey: { privateKey: KeyObject; publicKey: KeyObject }
  let keySet: KeySet
  // Started once the certificates exist: they are valid from the second they were made.
  let clock: ReturnType<typeof fakeClock>
  let verifier: JoseTokenVerifier

  const now = () => Math.floor(clock.now() / 1000)
  const sign = (claims: JWTPayload, header: JWTHeaderParameters, key: KeyObject) =>
    new SignJWT({ iss: ISSUER, aud: SERVICE, sub: 'alice', iat: now(), nbf: now(), exp: now() + 300, access: pull, ...claims })
      .setProtectedHeader({ typ: 'JWT', ...header })
      .sign(key)
  const rs256 = (claims: JWTPayload = {}, header: Partial<JWTHeaderParameters> = {}) => sign(claims, { alg: 'RS256', kid: keys.rsa.kid, ...header }, keys.rsa.key)
  const es256 = (claims: JWTPayload = {}) => sign(claims, { alg: 'ES256', x5c: [...keys.x5c] }, keys.ecLeaf.key)
  const invalid = (token: Promise<string> | string, why: RegExp) =>
    assert.rejects(async () => verifier.verify(await token, REPO), (err: unknown) => err instanceof InvalidTokenError && why.test(err.message))

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-verifier-'))
    keys = await makeTokenKeys(path.join(root, 'keys'))
    clock = fakeClock(Date.now() + 1000)
    jwksKey = generateKeyPairSync('ec', { namedCurve: 'P-384' })
    const jwks = JSON.stringify({ keys: [{ ...jwksKey.publicKey.export({ format: 'jwk' }), kid: 'jwks-key-1', use: 'sig' }] })
    await fs.writeFile(path.join(root, 'jwks.json'), jwks)
    keySet = readKeySet({ rootCerts: keys.bundlePath, jwks: path.join(root, 'jwks.json') })
    verifier = new JoseTokenVerifier({ keys: keySet, issuer: ISSUER, audience: SERVICE, clock })
  })
  after(() => fs.rm(root, { recursive: true, force: true }))

  it('accepts RS256 with a libtrust kid and no x5c, as Harbor signs', async () => {
    const v = await verifier.verify(await rs256(), REPO)
    assert.equal(v.subject, 'alice')
    assert.ok(v.expiresAt > clock.now())
  })

  it('accepts ES256 with an x5c chain up to a configured root', async () => {
    await verifier.verify(await es256(), REPO)
  })

  it('accepts a kid that is the RFC 7638 thumbprint of a root certificate\'s key, or a JWKS kid', async () => {
    await verifier.verify(await rs256({}, { kid: jwkThumbprints(keys.rsa.cert.publicKey)[0] }), REPO)
    await verifier.verify(await sign({}, { alg: 'ES384', kid: 'jwks-key-1' }, jwksKey.privateKey), REPO)
  })

  it('accepts aud as an array holding the service, `*` as an action, and times within the 60 s leeway', async () => {
    await verifier.verify(await rs256({ aud: ['other', SERVICE] }), REPO)
    await verifier.verify(await rs256({ access: [{ type: 'repository', name: 'library/app', actions: ['*'] }] }), REPO)
    await verifier.verify(await rs256({ nbf: now() + 50 }), REPO)
    await verifier.verify(await rs256({ exp: now() - 50 }), REPO)
  })

  it('refuses bad tokens with InvalidTokenError', async () => {
    await invalid(rs256({ exp: now() - 120, nbf: now() - 600, iat: now() - 600 }), /"exp"/)
    await invalid(rs256({ nbf: now() + 120 }), /"nbf"/)
    await invalid(rs256({ iss: 'someone-else' }), /"iss"/)
    await invalid(rs256({ aud: 'another-registry' }), /"aud"/)
    await invalid(rs256({ aud: ['a', 'b'] }), /"aud"/)
    await invalid(rs256({ exp: undefined }), /"exp"/)
    await invalid(sign({}, { alg: 'RS256', kid: keys.unknown.kid }, keys.unknown.key), /unknown signing key/)
    await invalid(sign({}, { alg: 'RS256', kid: keys.rsa.kid }, keys.unknown.key), /signature/)
    await invalid(sign({}, { alg: 'RS256' }, keys.rsa.key), /no kid or x5c/)
    await invalid(`${b64u({ alg: 'none', typ: 'JWT' })}.${b64u({ iss: ISSUER, aud: SERVICE, exp: now() + 300, access: pull })}.`, /"none" is not accepted/)
    // The classic confusion: HS256 keyed with the RSA public key the verifier trusts.
    const pem = keys.rsa.cert.publicKey.export({ type: 'spki', format: 'pem' })
    await invalid(sign({}, { alg: 'HS256', kid: keys.rsa.kid }, createSecretKey(Buffer.from(pem))), /"HS256" is not accepted/)
    await invalid('garbage', /not a signed JWT/)
    await invalid(sign({}, { alg: 'RS256', x5c: [keys.unknown.cert.raw.toString('base64')] }, keys.unknown.key), /does not end at a configured root/)
    await invalid(sign({}, { alg: 'ES256', x5c: ['bm90IGEgY2VydA=='] }, keys.ecLeaf.key), /not a DER certificate/)
  })

  it('refuses good tokens without pull on the repository with InsufficientScopeError', async () => {
    for (const access of [
      [{ type: 'repository', name: 'library/other', actions: ['pull'] }],
      [{ type: 'repository', name: 'library/app', actions: ['push'] }],
      [{ type: 'registry', name: 'library/app', actions: ['pull'] }],
      [],
      undefined,
    ]) {
      await assert.rejects(async () => verifier.verify(await rs256({ access }), REPO), InsufficientScopeError, JSON.stringify(access))
    }
  })

  it('checks an x5c chain\'s validity at the injected time', async () => {
    const token = await es256({ exp: now() + 10 * 86_400 })
    const late = new JoseTokenVerifier({ keys: keySet, issuer: ISSUER, audience: SERVICE, clock: { now: () => clock.now() + 3 * 86_400_000, sleep: () => Promise.resolve() } })
    await assert.rejects(late.verify(token, REPO), (err: unknown) => err instanceof InvalidTokenError && /not valid now/.test(err.message))
  })

  it('verifies one token once for 200 concurrent calls, until it expires', async () => {
    const v = new JoseTokenVerifier({ keys: keySet, issuer: ISSUER, audience: SERVICE, clock })
    const token = await rs256({ exp: now() + 120 })
    await Promise.all(Array.from({ length: 200 }, () => v.verify(token, REPO)))
    assert.equal(v.signatureChecks, 1)
    await assert.rejects(v.verify(token, RepoName.parse('library/other')), InsufficientScopeError)
    assert.equal(v.signatureChecks, 1, 'the grant is checked per repository without verifying again')
    clock.advance(121_000)
    await v.verify(token, REPO)
    assert.equal(v.signatureChecks, 2, 'an expired cache entry is verified again (still within the leeway)')
    clock.advance(61_000)
    await assert.rejects(v.verify(token, REPO), InvalidTokenError)
  })

  it('does not remember failures, and forgets everything when its keys are reloaded', async () => {
    const v = new JoseTokenVerifier({ keys: keySet, issuer: ISSUER, audience: SERVICE, clock })
    await assert.rejects(v.verify('garbage', REPO), InvalidTokenError)
    await assert.rejects(v.verify('garbage', REPO), InvalidTokenError)
    const token = await rs256()
    await v.verify(token, REPO)
    v.reload(KeySet.from({ rootCerts: [keys.ecRoot] }))
    await assert.rejects(v.verify(token, REPO), (err: unknown) => err instanceof InvalidTokenError && /unknown signing key/.test(err.message))
    await v.verify(await es256(), REPO)
    v.reload(keySet)
    await v.verify(token, REPO)
  })

  it('names what is wrong with a key file', async () => {
    assert.throws(() => parsePemBundle('nothing here'), /no PEM CERTIFICATE/)
    assert.throws(() => parsePemBundle('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'), /certificate 1 is not a valid/)
    assert.throws(() => parseJwks('{'), /not JSON/)
    assert.throws(() => parseJwks('{"keys":[{"kty":"oct","k":"AAAA"}]}'), /keys\[0\] is a symmetric key/)
    assert.throws(() => parseJwks(JSON.stringify({ keys: [jwksKey.privateKey.export({ format: 'jwk' })] })), /keys\[0\] holds a private key/)
    assert.throws(() => readKeySet({ rootCerts: path.join(root, 'missing.pem') }), /cannot read .*missing\.pem/)
  })

  it('indexes a root certificate made by openssl under its libtrust KeyID and thumbprint', async () => {
    const file = path.join(root, 'ec-own.crt')
    await run('openssl', ['req', '-x509', '-key', path.join(root, 'keys', 'ec-leaf.key'), '-out', file, '-days', '1', '-subj', '/CN=self'], { timeoutMs: 30_000 })
    const set = readKeySet({ rootCerts: file })
    const pub = keys.ecLeaf.cert.publicKey
    for (const id of [libtrustKeyId(pub), ...jwkThumbprints(pub)]) assert.ok(set.keyFor(id), id)
  })
})

