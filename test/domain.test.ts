import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Digest, DomainError, InfoHash, RepoName } from '../lib/core/domain.js'

const HEX = 'a'.repeat(64)

describe('domain values', () => {
  it('parses sha256 digests', () => {
    const d = Digest.parse(`sha256:${HEX}`)
    assert.equal(d.hex, HEX)
    assert.equal(d.toString(), `sha256:${HEX}`)
    assert.ok(d.equals(Digest.fromHex(HEX)))
  })

  it('rejects traversal, wrong lengths, upper case, unknown algorithms and non-strings', () => {
    const bad: unknown[] = ['sha256:../x', `sha256:../${HEX.slice(3)}`, `sha256:${HEX.slice(1)}`, `sha256:${HEX}a`, `sha256:${'A'.repeat(64)}`,
      `sha512:${HEX}${HEX}`, `md5:${HEX.slice(32)}`, HEX, '', `sha256:${HEX}\n`, ` sha256:${HEX}`, 42, null, undefined]
    for (const b of bad) assert.throws(() => Digest.parse(b), DomainError, String(b))
    assert.equal(Digest.isValid('sha256:../x'), false)
  })

  it('parses repository names by the distribution grammar', () => {
    for (const ok of ['alpine', 'library/alpine', 'a/b/c', 'my-org/app_1', 'x.y/z__w']) assert.equal(RepoName.parse(ok).toString(), ok)
    for (const bad of ['', 'Upper', '../x', 'a//b', '/a', 'a/', 'a:b', '-a', 'a'.repeat(256), 7]) assert.throws(() => RepoName.parse(bad), DomainError, String(bad))
  })

  it('parses info-hashes', () => {
    assert.equal(InfoHash.parse('0'.repeat(40)).hex, '0'.repeat(40))
    for (const bad of ['0'.repeat(39), 'G'.repeat(40), 'A'.repeat(40), undefined]) assert.throws(() => InfoHash.parse(bad), DomainError)
  })
})

describe('error codes', () => {
  it('docs/endpoints.md lists every error code', async () => {
    const { readFileSync } = await import('node:fs')
    const path = await import('node:path')
    const { fileURLToPath } = await import('node:url')
    const { ErrorCodes } = await import('../lib/core/errors.js')
    const doc = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/endpoints.md'), 'utf8')
    for (const [code, { status }] of Object.entries(ErrorCodes)) {
      const row = new RegExp(`^\\| \`${code}\` \\| (\\d{3}|the upstream's) \\|`, 'm').exec(doc)
      assert.ok(row, `${code} is documented in the errors table`)
      if (row[1] !== "the upstream's") assert.equal(Number(row[1]), status, `${code}'s status in the docs`)
    }
  })
})
