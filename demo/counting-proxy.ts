import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface CountingProxy {
  readonly url: string
  readonly host: string
  /** Blob GETs the registry answered with 200 or 206, for one digest. */
  blobGets(digest: string): number
  blobBytes(digest: string): number
  totalBlobGets(): number
  totalBlobBytes(): number
  close(): Promise<void>
}

const BLOB_GET = /^\/v2\/.+\/blobs\/(sha256:[a-f0-9]{64})(?:\?.*)?$/

/**
 * A pass-through proxy in front of a registry that counts the blob bytes the
 * registry really served: the measure of how much P2P spared it.
 */
export async function startCountingProxy(targetUrl: string): Promise<CountingProxy> {
  const target = new URL(targetUrl)
  const counts = new Map<string, { gets: number; bytes: number }>()
  const server = http.createServer((req, res) => {
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers)
        const m = req.method === 'GET' && (upRes.statusCode === 200 || upRes.statusCode === 206) ? BLOB_GET.exec(req.url ?? '') : null
        if (m) {
          const c = counts.get(m[1]) ?? { gets: 0, bytes: 0 }
          c.gets++
          counts.set(m[1], c)
          upRes.on('data', (chunk: Buffer) => {
            c.bytes += chunk.length
          })
        }
        upRes.pipe(res)
      },
    )
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
      res.end(err.message)
    })
    req.pipe(up)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const sum = (k: 'gets' | 'bytes') => [...counts.values()].reduce((n, c) => n + c[k], 0)
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    blobGets: (d) => counts.get(d)?.gets ?? 0,
    blobBytes: (d) => counts.get(d)?.bytes ?? 0,
    totalBlobGets: () => sum('gets'),
    totalBlobBytes: () => sum('bytes'),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
