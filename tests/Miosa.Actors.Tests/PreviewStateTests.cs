using Miosa.Actors.Common;
using Miosa.Actors.Previews;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Tests;

public class PreviewStateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private const string Id = "sbx_abcdefghijklmnop";
    private const string Org = "org_one";

    private static SandboxState Run(SandboxState state, ISandboxCommand command)
    {
        var decision = state.Process(command);
        Assert.Null(decision.Rejection);
        return decision.Events.Aggregate(state, (s, e) => s.Apply(e));
    }

    private static SandboxState Running() => Run(Run(SandboxState.Empty(Id), new CreateSandbox(Id, Org,
            new SandboxSpec(Id, "miosa-sandbox", new Dictionary<string, string>(), SandboxResources.Default, false), 900, true, Attribution.None, T0)),
        new RecordSandboxStarted(Id, "node-a", "http://127.0.0.1:9", T0));

    private static OpenPreview Open(int port, string? previewId = null, PreviewVisibility visibility = PreviewVisibility.Private, string org = Org) =>
        new(Id, org, previewId ?? PreviewIds.New(Id), port, visibility, new Attribution(ExternalUserId: "u1"), T0);

    [Fact]
    public void A_running_sandbox_opens_one_preview_per_port_and_its_route_lists_them()
    {
        var first = PreviewIds.New(Id);
        var state = Run(Running(), Open(3000, first));
        var again = state.Process(Open(3000, visibility: PreviewVisibility.Public));
        Assert.Empty(again.Events);
        state = Run(state, Open(4000, visibility: PreviewVisibility.Public));

        var route = state.ToRoute();
        Assert.True(route.Running);
        Assert.Equal("http://127.0.0.1:9", route.IngressUrl);
        Assert.Equal(first, route.PreviewOn(3000)!.PreviewId);
        Assert.Equal(PreviewVisibility.Private, route.PreviewOn(3000)!.Visibility);
        Assert.Equal(PreviewVisibility.Public, route.PreviewOn(4000)!.Visibility);
        Assert.Equal("u1", state.Previews[0].Attribution.ExternalUserId);
    }

    [Fact]
    public void Every_routing_change_raises_the_route_version_and_usage_does_not()
    {
        var running = Running();
        var opened = Run(running, Open(3000));
        Assert.True(opened.RouteVersion > running.RouteVersion);
        var metered = Run(opened, new RecordSandboxUsage(Id, T0, T0.AddSeconds(30), 1, 1, null));
        Assert.Equal(opened.RouteVersion, metered.RouteVersion);
        var closed = Run(metered, new ClosePreview(Id, Org, opened.Previews[0].Id, T0));
        Assert.True(closed.RouteVersion > opened.RouteVersion);
        Assert.Empty(closed.ToRoute().Previews);
    }

    [Fact]
    public void Destroying_the_sandbox_kills_its_previews()
    {
        var state = Run(Run(Running(), Open(3000)), new DestroySandbox(Id, Org, T0));
        Assert.Empty(state.Previews);
        var route = state.ToRoute();
        Assert.False(route.Running);
        Assert.Null(route.IngressUrl);
        Assert.Null(route.PreviewOn(3000));
        Assert.Equal("sandbox_not_running", state.Process(Open(3000)).Rejection!.Code);
    }

    [Fact]
    public void Another_organization_can_neither_open_list_nor_close_previews()
    {
        var state = Run(Running(), Open(3000));
        Assert.Equal(404, state.Process(Open(4000, org: "org_two")).Rejection!.Status);
        Assert.Equal(404, state.Process(new ListPreviews(Id, "org_two")).Rejection!.Status);
        Assert.Equal("preview_not_found", state.Process(new ClosePreview(Id, "org_two", state.Previews[0].Id, T0)).Rejection!.Code);
        Assert.Equal("preview_not_found", state.Process(new ClosePreview(Id, Org, PreviewIds.New(Id), T0)).Rejection!.Code);
    }

    [Fact]
    public void Preview_ids_name_their_sandbox_and_nothing_else_parses()
    {
        var id = PreviewIds.New(Id);
        Assert.Matches("^prv_[a-z0-9]+$", id);
        Assert.Equal(Id, PreviewIds.SandboxOf(id));
        Assert.Null(PreviewIds.SandboxOf("prv_short"));
        Assert.Null(PreviewIds.SandboxOf("sbx_abcdefghijklmnop12345678"));
        Assert.Null(PreviewIds.SandboxOf("prv_ABCDEFGHIJKLMNOP12345678"));
        Assert.Null(PreviewIds.SandboxOf(null));
    }
}
