import { createReadStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import bencode from 'bencode'
import { BlobHasher } from '../lib/store/blob-hasher.js'
import type { OciImage } from '../demo/image.js'
import { waitFor } from '../demo/process.js'
import type { Cluster } from './cluster.js'
import type { Procs } from './procs.js'
import { machineCpu, processCpu } from './cpu.js'

const TRACKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'plain-tracker.js')

// DHT, LSD and PEX off: peers come from the tracker only, inside the cluster.
const ARIA2_COMMON = [
  '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false',
  '--seed-ratio=0.0', '--file-allocation=none', '--bt-max-peers=0', '--console-log-level=warn',
  '--summary-interval=0', '--auto-save-interval=0', '--bt-save-metadata=false', '--disable-ipv6=true',
]

/** One multi-file torrent holding every blob of the image, as a user would make for a plain swarm. */
async function imageTorrent(image: OciImage, announce: string): Promise<Buffer> {
  const blobs = image.blobs()
  const hasher = new BlobHasher(blobs.reduce((n, b) => n + b.size, 0))
  for (const b of blobs) for await (const c of createReadStream(b.path)) hasher.update(c as Buffer)
  const h = hasher.finish()
  const info = {
    name: 'image',
    'piece length': h.pieceLength,
    pieces: h.pieces,
    files: blobs.map((b) => ({ length: b.size, path: [b.digest.slice(7)] })),
  }
  return Buffer.from(bencode.encode({ announce, info }))
}

/**
 * The `bittorrent` baseline: a plain tracker and an aria2c seeder on the
 * registry host, an aria2c leecher on every host. Returns when every leecher
 * has the whole image, in seconds from the start, with the machine's busy
 * CPU-seconds from the start until the last one finished (the tracker's and
 * seeder's start-up and the processes' stopping are outside it), and the
 * aria2c processes' own share of them.
 */
export async function runAria2Swarm(o: { cluster: Cluster; image: OciImage; work: string; procs: Procs; timeoutMs: number }): Promise<{ seconds: number[]; busyCpu: number; ownCpu: number }> {
  const { cluster, image, work, procs } = o
  const reg = cluster.registry
  await fs.mkdir(path.join(work, 'seed', 'image'), { recursive: true })
  for (const b of image.blobs()) await fs.link(b.path, path.join(work, 'seed', 'image', b.digest.slice(7)))
  const torrentFile = path.join(work, 'image.torrent')
  await fs.writeFile(torrentFile, await imageTorrent(image, `http://${reg.ip}:6969/announce`))
  const hook = path.join(work, 'done.sh')
  await fs.writeFile(hook, '#!/bin/sh\ndate +%s%N > "$LAYERSEED_BENCH_DONE"\n', { mode: 0o755 })

  const inNs = (ns: string) => ['ip', 'netns', 'exec', ns]
  const tracker = procs.start([...inNs(reg.ns), process.execPath, TRACKER, '0.0.0.0', '6969'], path.join(work, 'tracker.log'))
  await waitFor(async () => (await fetch(`http://${reg.ip}:6969/stats.json`).catch(() => fetch(`http://${reg.ip}:6969/announce`))).status > 0, { timeoutMs: 10_000, intervalMs: 100, what: 'the plain tracker' })
  const seeder = procs.start([...inNs(reg.ns), 'aria2c', ...ARIA2_COMMON, '--bt-seed-unverified=true', '--listen-port=6890', `--dir=${path.join(work, 'seed')}`, torrentFile], path.join(work, 'seeder.log'))
  await new Promise((r) => setTimeout(r, 1500))

  const t0 = Date.now()
  const cpu0 = machineCpu()
  const seederCpu0 = processCpu(seeder.child.pid)
  const leechers = await Promise.all(cluster.hosts.map(async (h) => {
    const dir = path.join(work, h.name)
    await fs.mkdir(dir, { recursive: true })
    const done = path.join(dir, 'done')
    const p = procs.start([...inNs(h.ns), 'env', `LAYERSEED_BENCH_DONE=${done}`, 'aria2c', ...ARIA2_COMMON, '--listen-port=6891', `--dir=${dir}`, `--on-bt-download-complete=${hook}`, torrentFile], path.join(dir, 'aria2c.log'))
    return { p, done }
  }))
  try {
    const seconds: number[] = []
    for (const l of leechers) {
      await waitFor(async () => (await fs.stat(l.done).then(() => true, () => false)), { timeoutMs: o.timeoutMs, intervalMs: 50, what: 'aria2c leechers to finish' })
      const ns = BigInt((await fs.readFile(l.done, 'utf8')).trim())
      seconds.push(Number(ns / 1_000_000n - BigInt(t0)) / 1000)
    }
    // `ip netns exec` execs aria2c in place, so the pid is aria2c's.
    const ownCpu = processCpu(seeder.child.pid) - seederCpu0 + leechers.reduce((n, l) => n + processCpu(l.p.child.pid), 0)
    return { seconds, busyCpu: machineCpu().busy - cpu0.busy, ownCpu }
  } finally {
    for (const l of leechers) await procs.stop(l.p)
    await procs.stop(seeder)
    await procs.stop(tracker)
  }
}
