// Token auth and credential options: all of it or none, secrets from files,
// and key files read at start, each problem naming its key.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadAgentConfig, loadSidecarConfig } from '../config/index.js'
import { problemsOf as problems } from './helpers/configs.js'
import { makeTokenKeys, type TokenKeys } from './helpers/token-keys.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/layerseed.js')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'layerseed-auth-config-'))
const file = (name: string, text: string) => {
  const p = path.join(tmp, name)
  fs.writeFileSync(p, text)
  return p
}

const keysOf = (fn: () => unknown) => problems(fn).map((p) => p.key).sort()

describe('token auth options', () => {
  let keys: TokenKeys
  let auth: string[]
  const S = ['--origin', 'http://registry:5000']
  const A = ['--sidecar', 'http://s:7070', '--upstream', 'http://registry:5000']

  before(async () => {
    keys = await makeTokenKeys(path.join(tmp, 'keys'))
    auth = ['--auth-realm', 'https://auth.example.com/token', '--auth-issuer', 'issuer', '--auth-service', 'registry', '--auth-root-certs', keys.bundlePath]
  })
  after(() => fs.rmSync(tmp, { recursive: true, force: true }))

  it('reads them as distribution\'s auth.token, for the sidecar and the agent', () => {
    const s = loadSidecarConfig([...S, ...auth]).config!
    assert.equal(s.authIssuer, 'issuer')
    assert.equal(s.authService, 'registry')
    assert.equal(s.authRootCerts, keys.bundlePath)
    assert.equal(s.swarmCredentialTtlMs, 3_600_000)
    const jwks = file('keys.jwks', JSON.stringify({ keys: [{ ...keys.rsa.cert.publicKey.export({ format: 'jwk' }), kid: 'k1' }] }))
    const a = loadAgentConfig([...A, '--auth-realm', 'https://auth.example.com/token', '--auth-issuer', 'issuer', '--auth-service', 'registry', '--auth-jwks', jwks]).config!
    assert.equal(a.authJwks, jwks)
    assert.equal(a.authRootCerts, undefined)
    assert.equal(loadSidecarConfig(S).config!.authRealm, undefined, 'off without them')
  })

  it('wants all of them or none, naming each missing key', () => {
    assert.deepEqual(keysOf(() => loadSidecarConfig([...S, '--auth-realm', 'https://a/token'])), ['--auth-issuer', '--auth-root-certs', '--auth-service'])
    assert.deepEqual(keysOf(() => loadAgentConfig([...A, '--auth-root-certs', keys.bundlePath, '--auth-service', 'r'])), ['--auth-issuer', '--auth-realm'])
  })

  it('reads key files at start: an unreadable or unparsable one is named', () => {
    const withCerts = (f: string) => [...auth.slice(0, 6), '--auth-root-certs', f]
    const missing = problems(() => loadSidecarConfig([...S, ...withCerts(path.join(tmp, 'nope.pem'))]))
    assert.deepEqual(missing.map((p) => p.key), ['--auth-root-certs'])
    assert.match(missing[0].message, /cannot read/)
    assert.match(problems(() => loadSidecarConfig([...S, ...withCerts(file('junk.pem', 'junk'))]))[0].message, /no PEM CERTIFICATE/)
    const badJwks = problems(() => loadAgentConfig([...A, ...auth, '--auth-jwks', file('bad.jwks', '{"keys":[{"kty":"oct","k":"AAAA"}]}')]))
    assert.deepEqual(badJwks.map((p) => p.key), ['--auth-jwks'])
    assert.match(badJwks[0].message, /symmetric/)
    const both = keysOf(() => loadSidecarConfig([...S, '--auth-realm', 'ftp://x', '--auth-issuer', 'i', '--auth-service', 's', '--auth-root-certs', path.join(tmp, 'nope.pem')]))
    assert.deepEqual(both, ['--auth-realm', '--auth-root-certs'], 'every bad key at once, none reported twice')
  })

  it('takes every secret from a file, and refuses both forms naming the key', () => {
    const webhook = file('webhook', 'w-secret\n')
    const preheat = file('preheat', 'p-secret\r\n')
    const robot = file('robot', 'r-secret')
    const s = loadSidecarConfig([...S, ...auth, '--webhook-token-file', webhook, '--preheat-token-file', preheat, '--origin-username', 'robot', '--origin-password-file', robot]).config!
    assert.deepEqual([s.webhookToken, s.preheatToken, s.originPassword], ['w-secret', 'p-secret', 'r-secret'])
    const a = loadAgentConfig([...A, '--upstream-username', 'node', '--upstream-password-file', robot]).config!
    assert.equal(a.upstreamPassword, 'r-secret')

    for (const [name, extra] of [['webhook-token', []], ['preheat-token', []], ['origin-password', ['--origin-username', 'u', ...auth]]] as const) {
      const p = problems(() => loadSidecarConfig([...S, ...extra, `--${name}`, 'x', `--${name}-file`, webhook]))
      assert.deepEqual(p.map((x) => x.key), [`--${name}-file`], name)
      assert.match(p[0].message, new RegExp(`either --${name} or --${name}-file`))
    }
    assert.deepEqual(keysOf(() => loadAgentConfig([...A, '--upstream-username', 'n', '--upstream-password', 'x', '--upstream-password-file', webhook])), ['--upstream-password-file'])
    const yaml = file('s.yaml', `origin: http://registry:5000\nwebhook-token-file: ${webhook}\n`)
    assert.deepEqual(keysOf(() => loadSidecarConfig(['--config', yaml, '--webhook-token', 'x'])), ['webhook-token-file'])
    const empty = problems(() => loadSidecarConfig([...S, '--webhook-token-file', file('empty', '\n')]))
    assert.match(empty[0].message, /is empty/)
    const gone = problems(() => loadSidecarConfig([...S, '--preheat-token-file', path.join(tmp, 'gone')]))
    assert.equal(gone[0].key, '--preheat-token-file')
    assert.ok(!JSON.stringify(problems(() => loadSidecarConfig([...S, '--origin-password-file', robot]))).includes('r-secret'), 'a secret is never echoed')
  })

  it('checks credentials: both halves, token auth behind origin credentials, one upstream per username', () => {
    assert.deepEqual(keysOf(() => loadSidecarConfig([...S, ...auth, '--origin-username', 'robot'])), ['--origin-password'])
    assert.deepEqual(keysOf(() => loadSidecarConfig([...S, ...auth, '--origin-password', 'x'])), ['--origin-username'])
    const open = problems(() => loadSidecarConfig([...S, '--origin-username', 'robot', '--origin-password', 'x']))
    assert.deepEqual(open.map((p) => p.key), ['--origin-username'])
    assert.match(open[0].message, /needs token auth/)
    assert.deepEqual(keysOf(() => loadAgentConfig([...A, '--upstream', 'http://other:5000', '--upstream-username', 'n', '--upstream-password', 'x'])), ['--upstream-username'])
  })

  it('reads per-upstream credentials from a docker config.json, for configured upstreams only', () => {
    const auths = file('auth.json', JSON.stringify({ auths: { 'registry:5000': { auth: Buffer.from('node:pw:with:colons').toString('base64') }, 'https://other:5000/v1/': { username: 'u', password: 'p' } } }))
    const a = loadAgentConfig([...A, '--upstream', 'http://other:5000', '--upstream-auth-file', auths]).config!
    assert.deepEqual(a.upstreamAuth, { 'registry:5000': { username: 'node', password: 'pw:with:colons' }, 'other:5000': { username: 'u', password: 'p' } })
    const stranger = problems(() => loadAgentConfig([...A, '--upstream-auth-file', auths]))
    assert.deepEqual(stranger.map((p) => p.key), ['--upstream-auth-file'])
    assert.match(stranger[0].message, /other:5000.*not a configured --upstream/)
    assert.deepEqual(keysOf(() => loadAgentConfig([...A, '--upstream-auth-file', file('noauth.json', '{"auths":{"registry:5000":{}}}')])), ['--upstream-auth-file'])
  })

  it('checks the swarm secret and the credential lifetime', () => {
    assert.deepEqual(keysOf(() => loadSidecarConfig([...S, ...auth, '--swarm-secret-file', file('short', 'tooshort'), '--swarm-credential-ttl', '10s'])), ['--swarm-credential-ttl', '--swarm-secret-file'])
    const s = loadSidecarConfig([...S, ...auth, '--swarm-secret-file', file('long', 'x'.repeat(40)), '--swarm-credential-ttl', '15m']).config!
    assert.equal(s.swarmSecret, 'x'.repeat(40))
    assert.equal(s.swarmCredentialTtlMs, 900_000)
  })

  it('stops the process with exit code 2 naming the bad key file', () => {
    const r = spawnSync(process.execPath, [BIN, 'agent', ...A, ...auth.slice(0, 6), '--auth-root-certs', path.join(tmp, 'nope.pem')], { encoding: 'utf8', timeout: 20_000 })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /--auth-root-certs: cannot read/)
  })
})
