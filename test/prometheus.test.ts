// Debian's prometheus scraping a real sidecar and agent every second: skopeo
// pushes an image to Debian's docker-registry, which notifies the sidecar,
// and pulls it through the agent; Prometheus's own query API must then give
// byte counters equal to the image's size.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Digest } from '../lib/core/domain.js'
import { freePort } from '../demo/ports.js'
import { spawnLogged, waitFor, type Spawned } from '../demo/process.js'
import { startRegistry, type Registry } from '../demo/registry.js'
import { makeOciImage, type OciImage } from '../demo/image.js'
import { skopeoPull, skopeoPush } from '../demo/skopeo.js'
import type { RunningAgent } from '../plugin/run.js'
import type { RunningSidecar } from '../sidecar/run.js'
import { Parts } from './helpers/parts.js'

const TOKEN = 'metrics-webhook-token'
const REPO = 'library/metrics'

function prometheusBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error('prometheus is not installed: run .ci/setup (apt-get install prometheus)')
  }
}

/** The value of an instant query that yields one sample, or undefined while it yields none. */
async function queryOne(base: string, expr: string): Promise<number | undefined> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`)
  const body = (await res.json()) as { status: string; data?: { result: Array<{ value: [number, string] }> }; error?: string }
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? body.status}`)
  const r = body.data?.result ?? []
  return r.length === 1 ? Number(r[0].value[1]) : undefined
}

describe('Prometheus scraping a sidecar and an agent', () => {
  let root: string
  let registry: Registry | undefined
  let prometheus: Spawned | undefined
  let promUrl = ''
  let image: OciImage
  let sidecar: RunningSidecar
  let agent: RunningAgent
  const parts = new Parts(() => registry!.url)

  before(async () => {
    const binary = prometheusBinary()
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'layerseed-prometheus-'))
    const sidecarPort = await freePort()
    registry = await startRegistry({ dir: path.join(root, 'registry'), notifyUrl: `http://127.0.0.1:${sidecarPort}/webhooks/distribution`, notifyToken: TOKEN })
    sidecar = await parts.sidecar(path.join(root, 'sidecar'), { listen: { host: '127.0.0.1', port: sidecarPort }, webhookToken: TOKEN })
    agent = await parts.agent(path.join(root, 'agent'), [sidecar.url])

    const promPort = await freePort()
    promUrl = `http://127.0.0.1:${promPort}`
    const config = path.join(root, 'prometheus.yml')
    await fs.writeFile(config, [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      `  - { job_name: sidecar, static_configs: [{ targets: ["127.0.0.1:${sidecar.port}"] }] }`,
      `  - { job_name: agent, static_configs: [{ targets: ["127.0.0.1:${agent.port}"] }] }`,
      '',
    ].join('\n'))
    prometheus = spawnLogged(binary, [`--config.file=${config}`, `--storage.tsdb.path=${path.join(root, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`], { logFile: path.join(root, 'prometheus.log') })
    await waitFor(async () => (await fetch(`${promUrl}/-/ready`)).ok, { timeoutMs: 30_000, intervalMs: 200, what: 'prometheus ready' })

    image = await makeOciImage(path.join(root, 'image'), { layerSizes: [6 << 20, 3 << 20, 1 << 20] })
    await skopeoPush(image, registry.host, `${REPO}:1.0`)
  })

  after(async () => {
    await prometheus?.stop()
    await parts.close()
    await registry?.stop().catch(() => undefined)
    if (root) await fs.rm(root, { recursive: true, force: true })
  })

  it('counts the bytes of a push and a pull as the image\'s size, per source and per repository', async () => {
    const total = image.blobs().reduce((n, b) => n + b.size, 0)
    for (const b of image.blobs()) {
      await waitFor(async () => sidecar.blobs.status(Digest.parse(b.digest)).state === 'seeding', { timeoutMs: 60_000, intervalMs: 100, what: `${b.digest} seeding` })
    }
    await skopeoPull({ source: `${registry!.host}/${REPO}:1.0`, destDir: path.join(root, 'pulled'), mirror: `127.0.0.1:${agent.port}`, workDir: path.join(root, 'work') })

    const expect = async (expr: string, want: number) => {
      let seen: number | undefined
      await waitFor(async () => (seen = await queryOne(promUrl, expr)) === want, { timeoutMs: 20_000, intervalMs: 250, what: `${expr} == ${want} (last ${seen})` })
      return seen
    }
    const figures = {
      agentBlobBytes: await expect('sum(layerseed_agent_blob_bytes_total{job="agent"})', total),
      agentRepoBytes: await expect(`layerseed_agent_repo_bytes_total{job="agent",repo="${REPO}"}`, total),
      sidecarOriginBytes: await expect('layerseed_sidecar_origin_bytes_total{job="sidecar"}', total),
      sidecarRepoOriginBytes: await expect(`layerseed_sidecar_repo_origin_bytes_total{job="sidecar",repo="${REPO}"}`, total),
      agentFromOrigin: await expect('layerseed_agent_blob_bytes_total{job="agent",source="origin"}', 0),
      webhookQueued: await queryOne(promUrl, 'sum(layerseed_sidecar_webhook_events_total{source="distribution",result="queued"})'),
    }
    // The swarm's share: every byte the agent got from the seeder, over the swarm or inline over HTTP.
    const seederSide = await queryOne(promUrl, 'sum(layerseed_sidecar_served_bytes_total{job="sidecar"})')
    assert.ok(seederSide !== undefined && seederSide >= total, `sidecar served ${seederSide} of ${total} bytes`)
    const requests = await queryOne(promUrl, 'sum(layerseed_agent_blob_requests_total{job="agent",result="miss"})')
    assert.equal(requests, image.blobs().length)
    assert.ok((figures.webhookQueued ?? 0) >= image.blobs().length)
    const pulls = await queryOne(promUrl, 'layerseed_agent_pull_duration_seconds_count{job="agent"}')
    assert.equal(pulls, image.blobs().length)
    console.log(`image ${total} bytes in ${image.blobs().length} blobs; Prometheus: ${JSON.stringify({ ...figures, sidecarServedBytes: seederSide })}`)
  })
})
