import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { loadAgentConfig, loadSidecarConfig, type Loaded } from '../config/index.js'
import { systemClock } from '../lib/core/clock.js'
import { Digest } from '../lib/core/domain.js'
import { createLogger } from '../lib/core/logger.js'
import { runSidecar, type RunningSidecar } from '../sidecar/run.js'
import { runAgent, type RunningAgent } from '../plugin/run.js'
import type { SourceBytes } from '../plugin/puller.js'
import { freePort } from './ports.js'
import { startRegistry, type Registry } from './registry.js'
import { startCountingProxy, type CountingProxy } from './counting-proxy.js'
import { makeOciImage } from './image.js'
import { skopeoPull, skopeoPush } from './skopeo.js'
import { waitFor } from './process.js'

export const demoHelp = `Usage: layerseed demo [--layers MB,MB,...] [--keep]

Starts Debian's docker-registry, a sidecar and two agents on loopback, pushes a
generated image with skopeo (the push webhook pre-seeds it), pulls it through
each agent with skopeo, and prints where every byte came from.

  --layers LIST   layer sizes in MB (default 20,10,5)
  --keep          keep the work directory (default: removed at the end)`

function parseArgs(argv: string[]): { layersMb: number[]; keep: boolean } {
  let layersMb = [20, 10, 5]
  let keep = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--keep') keep = true
    else if (a === '--layers' || a.startsWith('--layers=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]
      layersMb = (v ?? '').split(',').map(Number)
      if (layersMb.length === 0 || layersMb.some((n) => !(n > 0 && n <= 4096))) throw new Error(`--layers: want sizes in MB like 20,10,5, got ${JSON.stringify(v)}`)
    } else throw new Error(`unknown option ${a}\n\n${demoHelp}`)
  }
  return { layersMb, keep }
}

const mb = (n: number) => (n / 1e6).toFixed(1).padStart(7)

export async function runDemo(argv: string[]): Promise<number> {
  const { layersMb, keep } = parseArgs(argv)
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-demo-'))
  const logger = createLogger('warn', 'layerseed-demo')
  const say = (s: string) => process.stdout.write(`${s}\n`)
  let registry: Registry | undefined
  let proxy: CountingProxy | undefined
  let sidecar: RunningSidecar | undefined
  const agents: RunningAgent[] = []
  try {
    const token = 'demo-webhook-token'
    const sidecarPort = await freePort()
    registry = await startRegistry({ dir: path.join(root, 'registry'), notifyUrl: `http://127.0.0.1:${sidecarPort}/webhooks/distribution`, notifyToken: token })
    proxy = await startCountingProxy(registry.url)
    say(`registry      ${registry.url} (blob reads counted at ${proxy.url})`)
    sidecar = await runSidecar({
      config: configOf(loadSidecarConfig(['--listen', `127.0.0.1:${sidecarPort}`, '--origin', proxy.url, '--data-dir', path.join(root, 'sidecar'), '--webhook-token', token, '--peer-port', '0', '--log-level', 'warn'])),
      logger: logger.child({ process: 'sidecar' }),
      clock: systemClock,
    })
    say(`sidecar       ${sidecar.url}`)
    for (const name of ['agent-1', 'agent-2']) {
      const agent = await runAgent({
        config: configOf(loadAgentConfig(['--listen', '127.0.0.1:0', '--sidecar', sidecar.url, '--upstream', proxy.url, '--data-dir', path.join(root, name), '--peer-port', '0', '--log-level', 'warn'])),
        logger: logger.child({ process: name }),
        clock: systemClock,
      })
      agents.push(agent)
      say(`${name.padEnd(13)} ${agent.url}`)
    }

    const image = await makeOciImage(path.join(root, 'image'), { layerSizes: layersMb.map((m) => m * 1_000_000) })
    const total = image.blobs().reduce((n, b) => n + b.size, 0)
    say(`\npushing library/demo:1.0 (${image.layers.length} layers, ${mb(total).trim()} MB) with skopeo`)
    await skopeoPush(image, registry.host, 'library/demo:1.0')
    const t0 = Date.now()
    for (const b of image.blobs()) {
      const s = sidecar
      await waitFor(async () => s.blobs.isSeeding(Digest.parse(b.digest)), { timeoutMs: 120_000, intervalMs: 100, what: `${b.digest} to be seeding` })
    }
    say(`pre-seeded by the push webhook in ${Date.now() - t0} ms: every blob is seeding before the first pull\n`)

    say('pull           seconds   cache MB  seeder MB   peers MB  origin MB')
    for (const [i, agent] of agents.entries()) {
      const before = await statsOf(agent)
      const t = Date.now()
      await skopeoPull({ source: `${proxy.host}/library/demo:1.0`, destDir: path.join(root, `pull-${i}`), mirror: `127.0.0.1:${agent.port}`, workDir: path.join(root, `work-${i}`) })
      const after = await statsOf(agent)
      const d = (k: keyof SourceBytes) => mb(after[k] - before[k])
      say(`agent-${i + 1}     ${((Date.now() - t) / 1000).toFixed(2).padStart(9)}  ${d('cache')}    ${d('seeder')}    ${d('peers')}    ${d('origin')}`)
    }
    const served = proxy.totalBlobBytes()
    say(`\nthe registry served ${mb(served).trim()} MB of blobs for ${mb(2 * total).trim()} MB pulled (${(served / total).toFixed(2)}x the image)`)
    if (keep) say(`work directory kept: ${root}`)
    return 0
  } finally {
    for (const a of agents) await a.close().catch(() => undefined)
    await sidecar?.close().catch(() => undefined)
    await proxy?.close().catch(() => undefined)
    await registry?.stop().catch(() => undefined)
    if (!keep) await fs.rm(root, { recursive: true, force: true })
  }
}

async function statsOf(agent: RunningAgent): Promise<SourceBytes> {
  const res = await fetch(`${agent.url}/v1/stats`)
  return ((await res.json()) as { bytesBySource: SourceBytes }).bytesBySource
}

/** The demo starts its parts as an operator would, from flags; the loader fills in every default. */
function configOf<C>(loaded: Loaded<C>): C {
  if (!loaded.config) throw new Error('the demo\'s own flags did not load')
  return loaded.config
}
