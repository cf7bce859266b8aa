namespace Miosa.Actors.Common;

/// <summary>
/// What a container (a workspace, a project) still holds: live resources counted by kind
/// ("project", "sandbox"). A container with holdings is not deleted, so nothing is orphaned.
/// </summary>
public static class Holdings
{
    public static bool Any(IReadOnlyDictionary<string, long> holdings) => holdings.Any(h => h.Value > 0);

    /// <summary>The collection name of a kind, as in its route: "sandbox" -> "sandboxes".</summary>
    public static string CollectionOf(string kind) =>
        kind.EndsWith('x') || kind.EndsWith('s') || kind.EndsWith("ch", StringComparison.Ordinal) || kind.EndsWith("sh", StringComparison.Ordinal)
            ? kind + "es"
            : kind.Length > 1 && kind[^1] == 'y' && !"aeiou".Contains(kind[^2]) ? kind[..^1] + "ies" : kind + "s";

    /// <summary>The holdings keyed by collection name, as the API answers them.</summary>
    public static IReadOnlyDictionary<string, long> ByCollection(IReadOnlyDictionary<string, long> holdings) =>
        holdings.Where(h => h.Value > 0).ToDictionary(h => CollectionOf(h.Key), h => h.Value);

    /// <summary>"2 projects and 1 sandbox".</summary>
    public static string Describe(IReadOnlyDictionary<string, long> holdings)
    {
        var parts = holdings.Where(h => h.Value > 0).OrderBy(h => h.Key, StringComparer.Ordinal)
            .Select(h => $"{h.Value} {(h.Value == 1 ? h.Key : CollectionOf(h.Key))}").ToList();
        return parts.Count <= 1 ? string.Concat(parts) : $"{string.Join(", ", parts[..^1])} and {parts[^1]}";
    }
}
