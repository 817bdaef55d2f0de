export function placeholderKvBindings(
	namespaces: ReadonlyArray<{ binding: string; id?: string | undefined }> | undefined,
): string[];
export function placeholderAdvice(bindings: string[], configPath: string): string;
