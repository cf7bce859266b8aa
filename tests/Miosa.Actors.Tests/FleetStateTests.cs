using Akka.Actor;
using Miosa.Actors.Fleet;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.Slugs;

namespace Miosa.Actors.Tests;

public class FleetStateTests
{
    private static RegisterHost Host(string name, long memoryMb) =>
        new(name, "local", $"http://{name}", ["jail"], new HostCapacity(2, memoryMb, 0), ActorRefs.Nobody);

    [Fact]
    public void Places_on_the_host_with_most_room_and_counts_its_placements()
    {
        var fleet = FleetState.Empty.Register(Host("a", 2048)).Register(Host("b", 1536));
        var small = SandboxResources.Default with { MemoryMb = 512 };
        var (fleet1, first) = fleet.Place(new PlaceSandbox("sbx_1", small));
        var (fleet2, second) = fleet1.Place(new PlaceSandbox("sbx_2", small));
        var (fleet3, third) = fleet2.Place(new PlaceSandbox("sbx_3", small));
        Assert.Equal(["a", "a", "b"], new[] { first!.Host, second!.Host, third!.Host });
        Assert.Equal(2, fleet3.Placed["a"]);
    }

    [Fact]
    public void No_host_with_room_means_no_placement()
    {
        var (_, host) = FleetState.Empty.Register(Host("a", 256)).Place(new PlaceSandbox("sbx_1", SandboxResources.Default));
        Assert.Null(host);
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
