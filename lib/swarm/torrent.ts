import { createHash } from 'node:crypto'
import bencode from 'bencode'
import { Digest, InfoHash } from '../core/domain.js'
import type { BlobHashes } from '../store/blob-hasher.js'

export interface BlobTorrent {
  readonly digest: Digest
  readonly size: number
  readonly infoHash: InfoHash
  /** The bencoded .torrent file. */
  readonly torrent: Buffer
}

/**
 * Builds the torrent for a blob. The info dictionary holds only what the blob
 * determines (name = digest hex, length, piece length, pieces, private), so the
 * info-hash is the same wherever it is built; the announce URL is outside it.
 * No creation date or creator is written, so the file itself is reproducible too.
 */
export function buildTorrent(digest: Digest, hashes: BlobHashes, announce: string | ((infoHash: InfoHash) => string)): BlobTorrent {
  const info = {
    length: hashes.size,
    name: digest.hex,
    'piece length': hashes.pieceLength,
    pieces: hashes.pieces,
    private: 1,
  }
  const infoHash = InfoHash.parse(createHash('sha1').update(bencode.encode(info)).digest('hex'))
  const torrent = Buffer.from(bencode.encode({ announce: typeof announce === 'string' ? announce : announce(infoHash), info }))
  return { digest, size: hashes.size, infoHash, torrent }
}

export interface ParsedTorrent {
  readonly name: string
  readonly size: number
  readonly infoHash: InfoHash
  readonly announce: string | undefined
}

/** Reads back the fields the agent checks before trusting a torrent from a sidecar. */
export function parseTorrent(buf: Buffer): ParsedTorrent {
  const decoded = bencode.decode(buf) as { announce?: Uint8Array; info?: Record<string, unknown> }
  const info = decoded.info
  if (!info || typeof info !== 'object') throw new Error('torrent has no info dictionary')
  const name = info.name instanceof Uint8Array ? Buffer.from(info.name).toString('utf8') : undefined
  if (name === undefined || typeof info.length !== 'number') throw new Error('torrent is not a single-file torrent')
  const infoHash = InfoHash.parse(createHash('sha1').update(bencode.encode(info)).digest('hex'))
  const announce = decoded.announce ? Buffer.from(decoded.announce).toString('utf8') : undefined
  return { name, size: info.length, infoHash, announce }
}

/** The same torrent with another announce URL; the info dictionary, and so the info-hash, is unchanged. */
export function withAnnounce(torrent: Buffer, announce: string): Buffer {
  const decoded = bencode.decode(torrent) as Record<string, unknown>
  return Buffer.from(bencode.encode({ ...decoded, announce }))
}
