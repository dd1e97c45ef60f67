import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { PassThrough } from 'node:stream'
import { Digest, RepoName } from '../lib/core/domain.js'
import { RegistryClient } from '../lib/registry/client.js'
import { StallError, withStallTimeout } from '../lib/swarm/stall.js'

describe('timeouts', () => {
  // Regression: the headers timeout also aborted the body, so an origin
  // fallback of a large blob over a slow link failed after 30 s.
  it('bounds only the wait for response headers, not a slow body', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': '6' })
      res.write('abc')
      // Far past the headers timeout, which is itself generous, so a busy machine does not trip it.
      setTimeout(() => res.end('def'), 2_500)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const client = new RegistryClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 1_000)
      const blob = await client.openBlob(RepoName.parse('a/b'), Digest.fromHex('0'.repeat(64)))
      let body = ''
      for await (const c of blob.stream) body += String(c)
      assert.equal(body, 'abcdef')
    } finally {
      server.close()
    }
  })

  it('counts swarm activity as progress while the in-order stream waits', async () => {
    const stream = new PassThrough()
    let activity = Date.now()
    const keepAlive = setInterval(() => {
      activity = Date.now()
    }, 50)
    setTimeout(() => stream.end(Buffer.from('x')), 400)
    const chunks: Buffer[] = []
    try {
      for await (const c of withStallTimeout(stream, 200, Date.now, () => activity)) chunks.push(c)
    } finally {
      clearInterval(keepAlive)
    }
    assert.equal(Buffer.concat(chunks).toString(), 'x')
  })

  it('throws StallError when nothing at all happens', async () => {
    const stream = new PassThrough()
    await assert.rejects(async () => {
      for await (const _ of withStallTimeout(stream, 150, Date.now)) assert.fail('no chunk was written')
    }, StallError)
    stream.destroy()
  })
})
