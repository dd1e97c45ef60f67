import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import { once } from 'node:events'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'

export interface ImageBlob {
  readonly digest: string
  readonly size: number
  readonly path: string
}

export interface OciImage {
  readonly layoutDir: string
  readonly ref: string
  readonly manifestDigest: string
  readonly configDigest: string
  readonly layers: readonly ImageBlob[]
  /** The config and the layers: every blob a pull must move. */
  blobs(): ImageBlob[]
}

async function writeBlob(dir: string, data: Buffer): Promise<ImageBlob> {
  const hex = createHash('sha256').update(data).digest('hex')
  const p = path.join(dir, hex)
  await fs.writeFile(p, data)
  return { digest: `sha256:${hex}`, size: data.length, path: p }
}

/**
 * Streams a gzip layer of about `size` bytes of random data to a blob file.
 * It must really be gzip: skopeo compresses layers it finds uncompressed when
 * pushing, which would change their digests under the test.
 */
async function randomLayer(dir: string, size: number): Promise<{ blob: ImageBlob; diffId: string }> {
  const tmp = path.join(dir, `tmp-${randomBytes(6).toString('hex')}`)
  const gzip = createGzip({ level: 1 })
  const raw = createHash('sha256')
  const counter = hashingCounter()
  const done = pipeline(gzip, counter, createWriteStream(tmp))
  for (let left = size; left > 0; ) {
    const chunk = randomBytes(Math.min(left, 1 << 20))
    raw.update(chunk)
    left -= chunk.length
    if (!gzip.write(chunk)) await once(gzip, 'drain')
  }
  gzip.end()
  await done
  const counted = counter.result()
  const p = path.join(dir, counted.hex)
  await fs.rename(tmp, p)
  return { blob: { digest: `sha256:${counted.hex}`, size: counted.size, path: p }, diffId: `sha256:${raw.digest('hex')}` }
}

function hashingCounter() {
  const h = createHash('sha256')
  let size = 0
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk)
      size += chunk.length
      cb(null, chunk)
    },
  })
  return Object.assign(t, { result: () => ({ hex: h.digest('hex'), size }) })
}

/**
 * Writes an OCI image layout with random layers. Random data does not unpack,
 * but registries and copies move blobs by digest without unpacking them.
 */
export async function makeOciImage(dir: string, opts: { layerSizes: readonly number[]; ref?: string }): Promise<OciImage> {
  const ref = opts.ref ?? 'latest'
  const blobDir = path.join(dir, 'blobs', 'sha256')
  await fs.mkdir(blobDir, { recursive: true })
  const layers: ImageBlob[] = []
  const diffIds: string[] = []
  for (const size of opts.layerSizes) {
    const { blob, diffId } = await randomLayer(blobDir, size)
    layers.push(blob)
    diffIds.push(diffId)
  }
  const config = await writeBlob(blobDir, Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: diffIds },
    config: {},
  })))
  const manifest = await writeBlob(blobDir, Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  })))
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: manifest.digest,
      size: manifest.size,
      annotations: { 'org.opencontainers.image.ref.name': ref },
    }],
  }))
  return {
    layoutDir: dir,
    ref,
    manifestDigest: manifest.digest,
    configDigest: config.digest,
    layers,
    blobs: () => [config, ...layers],
  }
}
