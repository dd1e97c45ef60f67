// A second test reporter, beside TAP: at the end of a run it prints each
// failure again with its file and its real error. A CI log that keeps only
// the head and the tail of the TAP stream still says why a suite's hook
// failed (TAP names that error only inside the suite's own block).

interface FailEvent {
  type: string
  data: { name?: string; nesting?: number; file?: string; details?: { error?: unknown } }
}

function describeError(err: unknown): string {
  const e = err as { cause?: unknown; failureType?: string; message?: string; stack?: string } | undefined
  const real = (e?.cause ?? e) as { stack?: string; message?: string } | undefined
  const text = real?.stack ?? real?.message ?? String(real)
  return text.split('\n').slice(0, 12).join('\n    ')
}

export default async function* failureSummary(source: AsyncIterable<FailEvent>): AsyncGenerator<string> {
  const failures: string[] = []
  for await (const event of source) {
    if (event.type !== 'test:fail') continue
    const err = event.data.details?.error as { failureType?: string } | undefined
    // A test cancelled because its suite failed says nothing new; the suite's entry holds the cause.
    if (err?.failureType === 'cancelledByParent') continue
    failures.push(`${event.data.file ?? '?'}: ${event.data.name ?? '?'} (${err?.failureType ?? 'failed'})\n    ${describeError(err)}`)
  }
  if (failures.length === 0) return
  yield `\nfailures, with their errors (${failures.length}):\n`
  for (const f of failures) yield `- ${f}\n`
}
