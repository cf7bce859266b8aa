using Akka.Actor;
using Miosa.Actors.Fleet;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.Slugs;

namespace Miosa.Actors.Tests;

public class FleetStateTests
{
    private static RegisterHost Host(string name, long memoryMb, int running = 0, long committedMb = 0, int max = 1000) =>
        new(name, "local", $"http://{name}", ["jail"], new HostCapacity(2, memoryMb, running, committedMb, max), ActorRefs.Nobody);

    private static readonly SandboxResources Gig = SandboxResources.Default with { MemoryMb = 1024 };

    [Fact]
    public void Places_on_the_host_with_most_room_counting_what_it_placed_since_the_report()
    {
        // a has 16 GiB of limits to give, b 12 GiB.
        var fleet = FleetState.Empty.Register(Host("a", 16384 / FleetState.MemoryOvercommit)).Register(Host("b", 12288 / FleetState.MemoryOvercommit));
        var hosts = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            (fleet, var host) = fleet.Place(new PlaceSandbox($"sbx_{i}", Gig with { MemoryMb = 2048 }));
            hosts.Add(host!.Host);
        }
        Assert.Equal(["a", "a", "a", "b", "a", "b"], hosts);
        Assert.Equal(new PendingPlacements(4, 8192), fleet.Pending["a"]);
    }

    [Fact]
    public void A_report_replaces_pending_placements_so_destroyed_sandboxes_free_their_room()
    {
        var fleet = FleetState.Empty.Register(Host("a", 8192 / FleetState.MemoryOvercommit));
        for (var i = 0; i < 8; i++) (fleet, _) = fleet.Place(new PlaceSandbox($"sbx_{i}", Gig));
        Assert.Null(fleet.Place(new PlaceSandbox("sbx_full", Gig)).Host);
        // The host reports after destroys: two sandboxes hold 2 GiB of limits.
        fleet = fleet.Register(Host("a", 8192 / FleetState.MemoryOvercommit, running: 2, committedMb: 2048));
        Assert.Equal("a", fleet.Place(new PlaceSandbox("sbx_again", Gig)).Host!.Host);
    }

    [Fact]
    public void No_host_with_room_means_no_placement()
    {
        Assert.Null(FleetState.Empty.Register(Host("a", 16)).Place(new PlaceSandbox("sbx_1", SandboxResources.Default)).Host);
        Assert.Null(FleetState.Empty.Register(Host("a", 4096, running: 10, max: 10)).Place(new PlaceSandbox("sbx_1", SandboxResources.Default)).Host);
        Assert.Null(FleetState.Empty.Place(new PlaceSandbox("sbx_1", SandboxResources.Default)).Host);
    }

    [Theory]
    [InlineData("acme", true)]
    [InlineData("a-1", true)]
    [InlineData("-a", false)]
    [InlineData("A", false)]
    [InlineData("a_b", false)]
    [InlineData("", false)]
    public void Slugs_are_dns_labels(string slug, bool valid) => Assert.Equal(valid, SlugRegistryState.IsValidSlug(slug));

    [Fact]
    public void A_slug_has_one_owner()
    {
        var registry = new SlugRegistryState("organizations", System.Collections.Immutable.ImmutableDictionary<string, string>.Empty);
        var claimed = registry.Process(new ClaimSlug("organizations", "acme", "org_1")).Events.Aggregate(registry, (s, e) => s.Apply(e));
        Assert.Empty(claimed.Process(new ClaimSlug("organizations", "acme", "org_1")).Events);
        Assert.Equal("slug_taken", claimed.Process(new ClaimSlug("organizations", "acme", "org_2")).Rejection!.Code);
    }
}
