import { Digest, manifestKind, type Descriptor } from '../core/domain.js'

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; blobs: Descriptor[] }
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] }

/** Largest manifest we read; distribution itself refuses manifests over 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024

function descriptor(v: unknown, where: string): Descriptor {
  if (!v || typeof v !== 'object') throw new Error(`${where}: not an object`)
  const o = v as Record<string, unknown>
  const size = o.size
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new Error(`${where}.size: not a size`)
  return { mediaType: typeof o.mediaType === 'string' ? o.mediaType : '', digest: Digest.parse(o.digest), size }
}

/** Lists what a Docker schema 2 / OCI manifest or index references. */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown
  try {
    doc = JSON.parse(body.toString('utf8'))
  } catch {
    throw new Error('manifest is not JSON')
  }
  if (!doc || typeof doc !== 'object') throw new Error('manifest is not an object')
  const o = doc as Record<string, unknown>
  const declared = typeof o.mediaType === 'string' ? o.mediaType : undefined
  const ct = contentType?.split(';')[0].trim()
  // OCI manifests may omit mediaType; fall back to the header, then to the shape.
  const mediaType = declared ?? ct ?? ''
  const kind = manifestKind(mediaType) ?? (Array.isArray(o.manifests) ? 'index' : Array.isArray(o.layers) ? 'manifest' : undefined)
  if (kind === 'index') {
    if (!Array.isArray(o.manifests)) throw new Error('index has no manifests array')
    return { kind, mediaType, manifests: o.manifests.map((m, i) => descriptor(m, `manifests[${i}]`)) }
  }
  if (kind === 'manifest') {
    if (!Array.isArray(o.layers)) throw new Error('manifest has no layers array')
    const blobs = [descriptor(o.config, 'config'), ...o.layers.map((l, i) => descriptor(l, `layers[${i}]`))]
    return { kind, mediaType, blobs }
  }
  throw new Error(`unsupported manifest media type ${JSON.stringify(mediaType)}`)
}
