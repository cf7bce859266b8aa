using System.Collections.Immutable;

namespace Miosa.Actors.Routing;

/// <summary>
/// An edge's in-memory routes: immutable, so a request reads one consistent table while changes
/// build the next. Per entity the highest <see cref="IRoute.Version"/> wins, which makes applying
/// live events and full-table pages in any order converge.
/// </summary>
public sealed record RouteTable(
    ImmutableDictionary<string, SandboxRoute> Sandboxes,
    ImmutableDictionary<string, ShareTokenRoute> ShareTokens,
    ImmutableDictionary<string, TenantRoute> Tenants,
    ImmutableDictionary<string, string> PreviewDomains)
{
    /// <summary>Deployments by id, and their ids by host label (<c>&lt;slug&gt;.&lt;workspace or organization slug&gt;</c>).</summary>
    public ImmutableDictionary<string, DeploymentRoute> Deployments { get; init; } = ImmutableDictionary<string, DeploymentRoute>.Empty;

    public ImmutableDictionary<string, string> DeploymentHosts { get; init; } = ImmutableDictionary.Create<string, string>(StringComparer.OrdinalIgnoreCase);

    public static RouteTable Empty { get; } = new(
        ImmutableDictionary<string, SandboxRoute>.Empty,
        ImmutableDictionary<string, ShareTokenRoute>.Empty,
        ImmutableDictionary<string, TenantRoute>.Empty,
        ImmutableDictionary.Create<string, string>(StringComparer.OrdinalIgnoreCase));

    public RouteTable Apply(IRoute route) => route switch
    {
        SandboxRoute r when Newer(Sandboxes, r.SandboxId, r) => this with { Sandboxes = Sandboxes.SetItem(r.SandboxId, r) },
        ShareTokenRoute r when Newer(ShareTokens, r.TokenId, r) => this with { ShareTokens = ShareTokens.SetItem(r.TokenId, r) },
        TenantRoute r when Newer(Tenants, r.OrganizationId, r) => WithTenant(r),
        DeploymentRoute r when Newer(Deployments, r.DeploymentId, r) => WithDeployment(r),
        _ => this,
    };

    public RouteTable Apply(RouteTablePage page)
    {
        var table = this;
        foreach (var r in page.Sandboxes) table = table.Apply(r);
        foreach (var r in page.ShareTokens) table = table.Apply(r);
        foreach (var r in page.Tenants) table = table.Apply(r);
        foreach (var r in page.Deployments) table = table.Apply(r);
        return table;
    }

    public SandboxRoute? Sandbox(string sandboxId) => Sandboxes.GetValueOrDefault(sandboxId);

    public ShareTokenRoute? ShareToken(string tokenId) => ShareTokens.GetValueOrDefault(tokenId);

    public TenantRoute? Tenant(string? organizationId) => organizationId is null ? null : Tenants.GetValueOrDefault(organizationId);

    /// <summary>The organization whose verified preview domain this is.</summary>
    public string? OrganizationOfDomain(string domain) => PreviewDomains.GetValueOrDefault(domain);

    /// <summary>The deployment served at this host label, if any (deleted ones are not).</summary>
    public DeploymentRoute? DeploymentAt(string hostLabel) =>
        DeploymentHosts.TryGetValue(hostLabel, out var id) ? Deployments.GetValueOrDefault(id) : null;

    private RouteTable WithDeployment(DeploymentRoute r)
    {
        var hosts = DeploymentHosts;
        if (r.Deleted)
        {
            if (hosts.GetValueOrDefault(r.HostLabel) == r.DeploymentId) hosts = hosts.Remove(r.HostLabel);
        }
        else
        {
            hosts = hosts.SetItem(r.HostLabel, r.DeploymentId);
        }
        return this with { Deployments = Deployments.SetItem(r.DeploymentId, r), DeploymentHosts = hosts };
    }

    private RouteTable WithTenant(TenantRoute r)
    {
        var domains = PreviewDomains;
        if (Tenants.GetValueOrDefault(r.OrganizationId)?.PreviewDomain is { } old && domains.GetValueOrDefault(old) == r.OrganizationId)
            domains = domains.Remove(old);
        if (r.PreviewDomain is { } domain) domains = domains.SetItem(domain, r.OrganizationId);
        return this with { Tenants = Tenants.SetItem(r.OrganizationId, r), PreviewDomains = domains };
    }

    private static bool Newer<T>(ImmutableDictionary<string, T> routes, string key, T route) where T : IRoute =>
        !routes.TryGetValue(key, out var current) || current.Version < route.Version;
}
