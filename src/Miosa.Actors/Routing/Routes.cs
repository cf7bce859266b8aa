using Miosa.Actors.Common;
using Miosa.Actors.Deployments;
using Miosa.Actors.Organizations;
using Miosa.Actors.Previews;

namespace Miosa.Actors.Routing;

/// <summary>
/// What an edge needs to know about one entity to route traffic. Entities publish theirs on every
/// change; <see cref="Version"/> counts the entity's routing changes, so an edge keeps the newest
/// whichever way (live event or full table) it arrives first.
/// </summary>
public interface IRoute : IMiosaMessage
{
    long Version { get; }
}

public sealed record PreviewRoute(string PreviewId, int Port, PreviewVisibility Visibility);

/// <summary>Where a sandbox runs and which of its ports are previews. A destroyed sandbox keeps a route with no ingress (404 pages).</summary>
public sealed record SandboxRoute(
    string SandboxId, string OrganizationId, string? IngressUrl, bool Running, IReadOnlyList<PreviewRoute> Previews, long Version) : IRoute
{
    /// <summary>Suspended: a request resumes it first when it <see cref="AutoResume"/>s, else gets a 503 page.</summary>
    public bool Suspended { get; init; }

    public bool AutoResume { get; init; }

    public PreviewRoute? PreviewOn(int port) => Previews.FirstOrDefault(p => p.Port == port);
}

/// <summary>A share link as the edge checks it: the token's SHA-256, the password's slow hash, expiry and revocation.</summary>
public sealed record ShareTokenRoute(
    string TokenId, string OrganizationId, string SandboxId, int Port, string TokenHash, string? PasswordHash,
    DateTimeOffset? ExpiresAt, bool Revoked, long Version) : IRoute
{
    public bool Opens(string sandboxId, int port, DateTimeOffset now) =>
        !Revoked && SandboxId == sandboxId && Port == port && (ExpiresAt is null || now < ExpiresAt);
}

/// <summary>An organization's look on error pages and its verified preview domain (null until verified).</summary>
public sealed record TenantRoute(string OrganizationId, TenantBranding? Branding, string? PreviewDomain, long Version) : IRoute;

/// <summary>
/// A deployment as every edge serves it: requests for <c>&lt;HostLabel&gt;.&lt;base domain&gt;</c> get the files of
/// <see cref="Release"/> (null: nothing live yet, or deleted). Promote and rollback change only this.
/// </summary>
public sealed record DeploymentRoute(
    string DeploymentId, string OrganizationId, string HostLabel, ReleaseRef? Release, string? ActiveVersionId, bool SpaFallback,
    bool Deleted, long Version) : IRoute;

/// <summary>The DistributedPubSub topic routes travel on.</summary>
public static class RouteTopic
{
    public const string Name = "routes";
}

/// <summary>An edge asks for the full table when it joins (and now and then), a page at a time.</summary>
public sealed record GetRouteTable(string Kind, string? After) : IMiosaMessage;

public sealed record RouteTablePage(
    string Kind,
    IReadOnlyList<SandboxRoute> Sandboxes,
    IReadOnlyList<ShareTokenRoute> ShareTokens,
    IReadOnlyList<TenantRoute> Tenants,
    string? Next) : IMiosaMessage
{
    public IReadOnlyList<DeploymentRoute> Deployments { get; init; } = [];
}
