// What `npm run deploy` checks in the Wrangler configuration before deploying: pure, so it is unit-tested.

/**
 * The KV namespaces whose id is the all-zero placeholder that wrangler.toml ships with: a deploy would
 * bind CONFIG to a namespace that does not exist in the account. A missing id is not flagged: Wrangler
 * then creates the namespace itself.
 *
 * @param {ReadonlyArray<{ binding: string; id?: string | undefined }> | undefined} namespaces `kv_namespaces`
 * @returns {string[]} their bindings
 * @example placeholderKvBindings([{ binding: "CONFIG", id: "0".repeat(32) }]) // ["CONFIG"]
 */
export function placeholderKvBindings(namespaces) {
	return (namespaces ?? []).filter((ns) => typeof ns.id === "string" && /^0+$/.test(ns.id)).map((ns) => ns.binding);
}

/**
 * What to do about each placeholder, for a person deploying for the first time.
 *
 * @param {string[]} bindings from placeholderKvBindings
 * @param {string} configPath the configuration file to edit
 * @returns {string}
 */
export function placeholderAdvice(bindings, configPath) {
	return bindings
		.map(
			(binding) =>
				`KV namespace ${binding} has the placeholder id 00000000000000000000000000000000 in ${configPath}.\n` +
				`  Create the namespace:  npx wrangler kv namespace create ${binding}\n` +
				`  then put the id it prints in ${configPath}, in the [[kv_namespaces]] entry with binding = "${binding}":\n` +
				`    id = "<that id>"`,
		)
		.join("\n");
}
