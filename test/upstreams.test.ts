import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { AppError } from '../lib/core/errors.js'
import { Upstreams } from '../plugin/upstreams.js'

const u = new Upstreams(['http://reg.example:5000', 'https://harbor.example'])

describe('upstream selection', () => {
  it('uses the default upstream when nothing names one', () => {
    assert.deepEqual(u.resolve('/v2/library/app/manifests/1.0'), { upstream: 'http://reg.example:5000', path: '/v2/library/app/manifests/1.0', repo: 'library/app' })
    assert.equal(u.resolve('/v2/').path, '/v2/')
  })

  it("follows containerd's ?ns= to a configured host, and strips it", () => {
    const r = u.resolve('/v2/library/app/blobs/sha256:abc?ns=harbor.example&x=1')
    assert.equal(r.upstream, 'https://harbor.example')
    assert.equal(r.path, '/v2/library/app/blobs/sha256:abc?x=1')
  })

  it('follows a podman mirror path prefix: host, or host_port', () => {
    assert.equal(u.resolve('/v2/harbor.example/p/app/manifests/1').upstream, 'https://harbor.example')
    const r = u.resolve('/v2/reg.example_5000/p/app/manifests/1')
    assert.deepEqual(r, { upstream: 'http://reg.example:5000', path: '/v2/p/app/manifests/1', repo: 'p/app' })
  })

  it('refuses hosts that are not configured', () => {
    for (const url of ['/v2/x/manifests/1?ns=evil.example', '/v2/evil.example:443/x/manifests/1', '/v2/x/manifests/1?ns=reg.example']) {
      assert.throws(() => u.resolve(url), (e: unknown) => e instanceof AppError && e.code === 'UPSTREAM_NOT_ALLOWED', url)
    }
  })
})
