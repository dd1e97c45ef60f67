// The shape of an option and of a problem with one. Every other file of
// config/ depends on this one and it depends on none of them, so the option
// groups, the schema and the loader never need each other for their types.

export interface Problem {
  readonly key: string
  readonly message: string
}

type Element<T> = T extends readonly (infer E)[] ? E : never

interface SpecBase<K> {
  /** Without its dashes; also the key in the --config file. */
  readonly flag: string
  readonly field: K
  readonly help: string
  readonly arg: string
  readonly default?: string
  readonly required?: boolean
}

// A repeatable option parses each value on its own and fills a list field, so
// its parse returns an element; any other returns the field's type itself.
type Parse<C, K extends keyof C> =
  | { readonly repeatable?: false; readonly parse: (raw: unknown) => Exclude<C[K], undefined> }
  | { readonly repeatable: true; readonly parse: (raw: unknown) => Element<C[K]> }

// Without a default or `required`, the loader would leave a field unset that
// the config type promises is always there.
type Presence<C, K extends keyof C> = undefined extends C[K] ? unknown : { readonly default: string } | { readonly required: true }

/** One option of config type C: its flag, the field K it fills, and how to read a value. */
export type OptionSpec<C, K extends keyof C = keyof C> = K extends keyof C ? SpecBase<K> & Parse<C, K> & Presence<C, K> : never

/**
 * The options of C by the field they fill. Two options may fill one field (a
 * secret and its `--…-file` form); the loader refuses both given at once.
 */
export type OptionTable<C> = { readonly [K in keyof C]-?: OptionSpec<C, K> | readonly OptionSpec<C, K>[] }

type NoStrayFields<C, T> = { readonly [K in Exclude<keyof T, keyof C>]: never }

/**
 * Checks a table against C both ways: a field of C without an option fails to
 * compile, and so does an option for a field C lacks, which a spread-in group
 * would otherwise slip past TypeScript's excess-property check. Curried so
 * that C is given and the table's own type is inferred.
 */
export const optionTable = <C>() => <T extends OptionTable<C>>(table: T & NoStrayFields<C, T>): T => table

// Array.isArray does not narrow a readonly array out of a union.
const isList = <S>(entry: S | readonly S[]): entry is readonly S[] => Array.isArray(entry)

/** The options in the table's order, which is the order of --help. */
export function optionList<C>(table: OptionTable<C>): readonly OptionSpec<C>[] {
  return Object.values<OptionSpec<C> | readonly OptionSpec<C>[]>(table).flatMap((e) => (isList(e) ? e : [e]))
}
