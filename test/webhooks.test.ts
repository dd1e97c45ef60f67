import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseDistributionEnvelope } from '../webhooks/distribution.js'
import { WebhookShapeError } from '../webhooks/shape.js'

// dist/test/ → repo root, where the fixtures live as committed.
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/distribution-2.8-multiarch-push')
const HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

function fixture(name: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'))
}

const v3Push = (mediaType: string, extra: Record<string, unknown> = {}) => ({
  events: [{
    id: 'f3b0a0a8-0000-4000-8000-000000000001',
    timestamp: '2026-01-01T00:00:00.000000000Z',
    action: 'push',
    target: { mediaType, digest: `sha256:${HEX}`, size: 1234, length: 1234, repository: 'team/app', url: 'http://elsewhere.invalid/x', ...extra },
    request: { id: 'r', addr: '10.0.0.1:1', host: 'reg', method: 'PUT', useragent: 'containerd' },
    actor: { name: 'ci' },
    source: { addr: 'reg:5000', instanceID: 'i' },
  }],
})

describe('distribution envelopes', () => {
  it('reads the eight real envelopes of a multi-arch push by docker-registry 2.8', () => {
    const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort()
    assert.equal(files.length, 8)
    const targets = files.flatMap((f) => parseDistributionEnvelope(fixture(f)).targets)
    assert.equal(targets.filter((t) => t.kind === 'blob').length, 5)
    assert.equal(targets.filter((t) => t.kind === 'manifest').length, 3)
    for (const t of targets) assert.equal(t.ref.repo.toString(), 'library/multi')
    const index = parseDistributionEnvelope(fixture('08.json')).targets[0]
    assert.equal(index.kind, 'manifest')
    assert.equal(index.ref.digest.toString(), 'sha256:8afe23d82c351c88b28cff591f0821114f62e30db41f327d52ef465cfa893f27')
  })

  it('reads a v2.8 batch of several events', () => {
    const events = ['01.json', '04.json', '08.json'].flatMap((f) => (fixture(f) as { events: unknown[] }).events)
    const parsed = parseDistributionEnvelope({ events })
    assert.deepEqual(parsed.targets.map((t) => t.kind), ['blob', 'manifest', 'manifest'])
    assert.equal(parsed.ignored, 0)
  })

  it('reads v3 envelopes: OCI descriptors, artifactType, references', () => {
    const m = parseDistributionEnvelope(v3Push('application/vnd.oci.image.manifest.v1+json', { artifactType: 'application/vnd.example', references: [] }))
    assert.equal(m.targets[0].kind, 'manifest')
    const b = parseDistributionEnvelope(v3Push('application/vnd.oci.image.layer.v1.tar+gzip'))
    assert.equal(b.targets[0].kind, 'blob')
    const list = parseDistributionEnvelope(v3Push('application/vnd.docker.distribution.manifest.list.v2+json'))
    assert.equal(list.targets[0].kind, 'manifest')
  })

  it('ignores pull, mount and delete (v3 deletes carry mediaType "" and size 0) and unknown media types', () => {
    const del = { events: [{ action: 'delete', target: { mediaType: '', digest: `sha256:${HEX}`, size: 0, repository: 'team/app' } }] }
    assert.deepEqual(parseDistributionEnvelope(del), { targets: [], ignored: 1 })
    for (const action of ['pull', 'mount']) {
      assert.equal(parseDistributionEnvelope({ events: [{ ...v3Push('application/octet-stream').events[0], action }] }).ignored, 1)
    }
    assert.equal(parseDistributionEnvelope(v3Push('application/vnd.example.unknown')).ignored, 1)
    assert.deepEqual(parseDistributionEnvelope({ events: [] }), { targets: [], ignored: 0 })
  })

  it('never carries the url field into a target', () => {
    const t = parseDistributionEnvelope(v3Push('application/octet-stream')).targets[0]
    assert.deepEqual(Object.keys(t.ref).sort(), ['digest', 'repo'])
  })

  const rejects = (body: unknown, pathRe: RegExp) =>
    assert.throws(() => parseDistributionEnvelope(body), (err: unknown) => err instanceof WebhookShapeError && pathRe.test(err.message))

  it('rejects wrong shapes, naming the field', () => {
    rejects(null, /object/)
    rejects([], /object/)
    rejects({}, /^events/)
    rejects({ events: {} }, /^events: must be an array/)
    rejects({ events: [42] }, /^events\[0\]/)
    rejects({ events: [{ target: {} }] }, /^events\[0\]\.action/)
    rejects({ events: [{ action: 'push', target: 'x' }] }, /^events\[0\]\.target/)
    rejects(v3Push('application/octet-stream', { repository: 'UPPER/Case' }), /target\.repository/)
    rejects(v3Push('application/octet-stream', { repository: '../etc' }), /target\.repository/)
    for (const digest of ['sha256:../x', `sha256:${HEX.toUpperCase()}`, `sha256:${HEX.slice(1)}`, `md5:${HEX.slice(32)}`, `sha512:${HEX}${HEX}`, 42]) {
      rejects(v3Push('application/octet-stream', { digest }), /target\.digest/)
    }
  })
})
