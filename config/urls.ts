/** An http or https URL without credentials in it; throws saying what is wrong. */
export function httpUrl(s: string): URL {
  let u: URL
  try {
    u = new URL(s)
  } catch {
    throw new Error(`want an http(s) URL, got ${JSON.stringify(s)}`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`want an http or https URL, got ${JSON.stringify(s)}`)
  if (u.username || u.password) throw new Error('credentials do not belong in the URL')
  return u
}
