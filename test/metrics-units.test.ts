// The metric modules on registries of their own, without running a process.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import { OTHER_REPO, RepoLabels } from '../lib/metrics/repo-labels.js'
import { agentMetrics } from '../plugin/metrics.js'
import { sidecarMetrics } from '../sidecar/metrics.js'

async function values(register: Registry, name: string): Promise<Map<string, number>> {
  const metric = (await register.getMetricsAsJSON()).find((m) => m.name === name)
  assert.ok(metric, name)
  return new Map(metric.values.map((v) => [JSON.stringify(v.labels), v.value]))
}

describe('metric modules', () => {
  it('name at most the cap of repositories, the rest as other', () => {
    const labels = new RepoLabels(2)
    assert.equal(labels.of('a'), 'a')
    assert.equal(labels.of('b'), 'b')
    assert.equal(labels.of('c'), OTHER_REPO)
    assert.equal(labels.of('a'), 'a', 'a repository named once keeps its name')
  })

  it('count agent bytes by source and by repository, with the cap', async () => {
    const register = new Registry()
    const meter = agentMetrics(register, 1)
    meter.served('library/a', { cache: 0, seeder: 10, peers: 20, origin: 5 }, { same: 15, other: 5 })
    meter.served('library/b', { cache: 7, seeder: 0, peers: 0, origin: 0 }, { same: 0, other: 0 })
    const bySource = await values(register, 'layerseed_agent_blob_bytes_total')
    const label = (k: string) => {
      const l = JSON.parse(k) as { source: string; zone?: string }
      return l.zone ? `${l.source}/${l.zone}` : l.source
    }
    assert.deepEqual(Object.fromEntries([...bySource].map(([k, v]) => [label(k), v])), { cache: 7, seeder: 10, 'peers/same': 15, 'peers/other': 5, origin: 5 })
    const byRepo = await values(register, 'layerseed_agent_repo_bytes_total')
    assert.equal(byRepo.get(JSON.stringify({ repo: 'library/a' })), 35)
    assert.equal(byRepo.get(JSON.stringify({ repo: OTHER_REPO })), 7)
  })

  it('read the sidecar\'s gauges from its parts when scraped', async () => {
    const register = new Registry()
    const meter = sidecarMetrics(register)
    let depth = 3
    meter.watch({ queueDepth: () => depth, blobCounts: () => ({ fetching: 1, seeding: 4, failed: 0 }), seederBytes: () => 100 })
    meter.servedHttp(20)
    assert.equal((await values(register, 'layerseed_sidecar_queue_depth')).get('{}'), 3)
    depth = 0
    assert.equal((await values(register, 'layerseed_sidecar_queue_depth')).get('{}'), 0)
    const served = await values(register, 'layerseed_sidecar_served_bytes_total')
    assert.equal(served.get(JSON.stringify({ via: 'seeder' })), 100)
    assert.equal(served.get(JSON.stringify({ via: 'http' })), 20)
    assert.equal((await values(register, 'layerseed_sidecar_blobs')).get(JSON.stringify({ state: 'seeding' })), 4)
  })
})
