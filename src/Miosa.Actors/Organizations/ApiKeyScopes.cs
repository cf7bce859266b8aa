using Miosa.Actors.Common;

namespace Miosa.Actors.Organizations;

/// <summary>
/// What a key may do. <c>full</c>: everything its organization may; <c>read</c>: GET and HEAD only,
/// for dashboards and monitors that must not be able to change anything.
/// </summary>
public static class ApiKeyScopes
{
    public const string Full = "full";
    public const string Read = "read";

    public static IReadOnlyList<string> All { get; } = [Full, Read];

    public static IReadOnlyList<string> Default { get; } = [Full];

    /// <summary>Why the scopes are not acceptable, or null: at least one, each known.</summary>
    public static Rejection? Validate(IReadOnlyList<string> scopes) =>
        scopes.Count == 0 || scopes.Any(s => !All.Contains(s))
            ? Rejection.Invalid("scopes", $"scopes must be a non-empty list of: {string.Join(", ", All)}.")
            : null;

    /// <summary>Whether a key may change anything. Keys from before scopes existed (null) are full keys.</summary>
    public static bool AllowsWrites(IReadOnlyList<string>? scopes) => scopes is null || scopes.Contains(Full);

    /// <summary>Whether a request with this HTTP method is within the key's scopes.</summary>
    public static bool Permit(IReadOnlyList<string>? scopes, string method) =>
        AllowsWrites(scopes) || HttpMethodIsRead(method);

    private static bool HttpMethodIsRead(string method) =>
        string.Equals(method, "GET", StringComparison.OrdinalIgnoreCase) || string.Equals(method, "HEAD", StringComparison.OrdinalIgnoreCase);
}
