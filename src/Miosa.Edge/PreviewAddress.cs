using System.Globalization;
using Miosa.Actors.Common;
using Miosa.Actors.Routing;

namespace Miosa.Edge;

/// <summary>
/// Which sandbox port a request's host names: <c>&lt;port&gt;-&lt;sandbox id suffix&gt;.sandbox.&lt;base domain&gt;</c>,
/// or the same label under an organization's verified preview domain (<see cref="DomainOwner"/> then
/// names that organization, and only its own sandboxes answer there).
/// </summary>
public sealed record PreviewAddress(string SandboxId, int Port, string? DomainOwner)
{
    public static string Host(string sandboxId, int port, string baseDomain) =>
        $"{port}-{sandboxId[(IdPrefix.Sandbox.Length + 1)..]}.sandbox.{baseDomain}";

    /// <summary>Reads a request host (without its port); null when it names no preview.</summary>
    public static PreviewAddress? Parse(string host, string baseDomain, RouteTable routes)
    {
        host = host.TrimEnd('.').ToLowerInvariant();
        var dot = host.IndexOf('.');
        if (dot <= 0) return null;
        var (label, parent) = (host[..dot], host[(dot + 1)..]);
        string? owner = null;
        if (parent != $"sandbox.{baseDomain.ToLowerInvariant()}")
        {
            owner = routes.OrganizationOfDomain(parent);
            if (owner is null) return null;
        }
        var dash = label.IndexOf('-');
        if (dash <= 0 || !int.TryParse(label.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            return null;
        var sandboxId = $"{IdPrefix.Sandbox}_{label[(dash + 1)..]}";
        return ResourceId.IsValid(sandboxId, IdPrefix.Sandbox) ? new PreviewAddress(sandboxId, port, owner) : null;
    }
}
