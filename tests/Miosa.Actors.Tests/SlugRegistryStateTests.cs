using System.Collections.Immutable;
using Miosa.Actors.Common;
using Miosa.Actors.Slugs;

namespace Miosa.Actors.Tests;

public class SlugRegistryStateTests
{
    private static SlugRegistryState Run(SlugRegistryState state, ISlugCommand command)
    {
        var decision = state.Process(command);
        Assert.Null(decision.Rejection);
        return decision.Events.Aggregate(state, (s, e) => s.Apply(e));
    }

    private static readonly SlugRegistryState Registry = new("workspaces:org_one", ImmutableDictionary<string, string>.Empty);

    [Fact]
    public void A_released_slug_can_be_claimed_again()
    {
        var claimed = Run(Registry, new ClaimSlug(Registry.Scope, "acme", "ws_1"));
        var taken = claimed.Process(new ClaimSlug(Registry.Scope, "acme", "ws_2")).Rejection!;
        Assert.Equal(("slug_taken", 409, "slug"), (taken.Code, taken.Status, taken.Field));

        var released = Run(claimed, new ReleaseSlug(Registry.Scope, "acme", "ws_1"));
        Assert.Null(released.OwnerOf("acme").OwnerId);
        Assert.Equal("ws_2", Run(released, new ClaimSlug(Registry.Scope, "acme", "ws_2")).OwnerOf("acme").OwnerId);
    }

    [Fact]
    public void Only_the_owner_releases_a_slug()
    {
        var claimed = Run(Registry, new ClaimSlug(Registry.Scope, "acme", "ws_1"));
        Assert.Empty(claimed.Process(new ReleaseSlug(Registry.Scope, "acme", "ws_2")).Events);
        Assert.Empty(claimed.Process(new ReleaseSlug(Registry.Scope, "other", "ws_1")).Events);
    }

    [Fact]
    public void An_invalid_slug_names_the_field() =>
        Assert.Equal(("invalid_slug", 422, "slug"), Registry.Process(new ClaimSlug(Registry.Scope, "-Bad", "ws_1")).Rejection is { } r
            ? (r.Code, r.Status, r.Field)
            : default);

    [Theory]
    [InlineData("My Shop!", "my-shop")]
    [InlineData("  Acme -- Corp  ", "acme-corp")]
    [InlineData("Café 2", "caf-2")]
    [InlineData("!!!", "workspace")]
    [InlineData("", "workspace")]
    public void Slugs_are_made_from_names(string name, string slug)
    {
        Assert.Equal(slug, SlugRegistryState.FromName(name, "workspace"));
        Assert.True(SlugRegistryState.IsValidSlug(slug));
    }

    [Fact]
    public void Slugs_from_long_names_stay_valid_with_a_suffix()
    {
        var slug = SlugRegistryState.FromName(new string('a', 47) + " b" + new string('c', 100), "workspace");
        Assert.Equal(new string('a', 47), slug);
        var suffixed = SlugRegistryState.WithSuffix(slug);
        Assert.Matches("^a{47}-[a-z0-9]{4}$", suffixed);
        Assert.True(SlugRegistryState.IsValidSlug(suffixed));
    }
}
