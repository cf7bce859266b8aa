using Miosa.Actors.Organizations;
using Miosa.Actors.Previews;
using Miosa.Actors.Routing;

namespace Miosa.Actors.Tests;

public class RouteTableTests
{
    private static SandboxRoute Sandbox(long version, bool running = true, params int[] ports) =>
        new("sbx_a", "org_a", running ? "http://127.0.0.1:9" : null, running,
            ports.Select(p => new PreviewRoute($"prv_{p}", p, PreviewVisibility.Private)).ToList(), version);

    [Fact]
    public void The_newest_version_wins_whatever_order_live_events_and_full_table_pages_arrive_in()
    {
        var v1 = Sandbox(1, true, 3000);
        var v2 = Sandbox(2, true, 3000, 4000);
        var v3 = Sandbox(3, false);
        var page = new RouteTablePage("sandbox", [v2], [], [], null);
        foreach (var order in new IEnumerable<Func<RouteTable, RouteTable>>[]
                 {
                     [t => t.Apply(v1), t => t.Apply(v3), t => t.Apply(page)],
                     [t => t.Apply(page), t => t.Apply(v3), t => t.Apply(v1)],
                     [t => t.Apply(v3), t => t.Apply(page), t => t.Apply(v1)],
                 })
        {
            var table = order.Aggregate(RouteTable.Empty, (t, step) => step(t));
            Assert.Equal(3, table.Sandbox("sbx_a")!.Version);
            Assert.False(table.Sandbox("sbx_a")!.Running);
        }
    }

    [Fact]
    public void A_tenant_domain_points_at_its_organization_until_it_changes()
    {
        var table = RouteTable.Empty.Apply(new TenantRoute("org_a", null, "previews.acme.test", 1));
        Assert.Equal("org_a", table.OrganizationOfDomain("PREVIEWS.acme.test"));
        table = table.Apply(new TenantRoute("org_a", new TenantBranding("https://x.test/l.png", "#000000", null), "p.acme.test", 2));
        Assert.Null(table.OrganizationOfDomain("previews.acme.test"));
        Assert.Equal("org_a", table.OrganizationOfDomain("p.acme.test"));
        Assert.Equal("#000000", table.Tenant("org_a")!.Branding!.AccentColor);
        // A stale copy changes nothing.
        Assert.Equal("org_a", table.Apply(new TenantRoute("org_a", null, "previews.acme.test", 1)).OrganizationOfDomain("p.acme.test"));
    }

    [Fact]
    public void Revoking_a_share_token_sticks()
    {
        var route = new ShareTokenRoute("tok_a", "org_a", "sbx_a", 3000, "hash", null, null, false, 1);
        var table = RouteTable.Empty.Apply(route).Apply(route with { Revoked = true, Version = 2 }).Apply(route);
        Assert.True(table.ShareToken("tok_a")!.Revoked);
        Assert.False(table.ShareToken("tok_a")!.Opens("sbx_a", 3000, DateTimeOffset.UtcNow));
    }
}
