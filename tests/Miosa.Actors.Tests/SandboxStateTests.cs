using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Tests;

public class SandboxStateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private const string Id = "sbx_abc";
    private const string Org = "org_one";

    private static SandboxState Run(SandboxState state, ISandboxCommand command)
    {
        var decision = state.Process(command);
        Assert.Null(decision.Rejection);
        return decision.Events.Aggregate(state, (s, e) => s.Apply(e));
    }

    private static SandboxState Created() => Run(SandboxState.Empty(Id), new CreateSandbox(Id, Org,
        new SandboxSpec(Id, "miosa-sandbox", new Dictionary<string, string> { ["A"] = "1" }, SandboxResources.Default, false),
        900, true, new Attribution(ExternalUserId: "u1"), T0));

    [Fact]
    public void Create_then_start_makes_the_sandbox_running_on_its_host()
    {
        var running = Run(Created(), new RecordSandboxStarted(Id, "node-a", "http://127.0.0.1:9", T0.AddSeconds(1)));
        Assert.Equal(SandboxStatus.Running, running.Status);
        Assert.Equal("node-a", running.Host);
        Assert.Equal("u1", running.ToView().Attribution.ExternalUserId);
        Assert.True(running.ShouldRunOn("node-a"));
        Assert.False(running.ShouldRunOn("node-b"));
    }

    [Fact]
    public void Another_organization_sees_nothing()
    {
        var state = Created();
        var decision = state.Process(new GetSandbox(Id, "org_two"));
        Assert.Equal(404, decision.Rejection!.Status);
        Assert.Equal("sandbox_not_found", decision.Rejection.Code);
        Assert.Equal(404, state.Process(new DestroySandbox(Id, "org_two", T0)).Rejection!.Status);
    }

    [Fact]
    public void Missing_sandbox_is_not_found()
    {
        Assert.Equal("sandbox_not_found", SandboxState.Empty(Id).Process(new GetSandbox(Id, Org)).Rejection!.Code);
    }

    [Fact]
    public void Destroy_is_idempotent_and_final()
    {
        var destroyed = Run(Created(), new DestroySandbox(Id, Org, T0.AddSeconds(5)));
        Assert.Equal(SandboxStatus.Destroyed, destroyed.Status);
        Assert.Empty(destroyed.Process(new DestroySandbox(Id, Org, T0.AddSeconds(6))).Events);
        // A start that arrives after the destroy does not bring it back.
        Assert.Empty(destroyed.Process(new RecordSandboxStarted(Id, "node-a", "http://x", T0.AddSeconds(7))).Events);
        Assert.False(destroyed.ShouldRunOn("node-a"));
    }

    [Fact]
    public void A_failed_start_is_recorded_with_its_reason()
    {
        var failed = Run(Created(), new RecordSandboxFailed(Id, "no bwrap", T0));
        Assert.Equal(SandboxStatus.Failed, failed.Status);
        Assert.Equal("no bwrap", failed.ToView().Error);
    }

    [Fact]
    public void A_restarted_host_with_a_new_address_is_recorded()
    {
        var running = Run(Created(), new RecordSandboxStarted(Id, "node-a", "http://127.0.0.1:1", T0));
        var moved = Run(running, new RecordSandboxStarted(Id, "node-a", "http://127.0.0.1:2", T0));
        Assert.Equal("http://127.0.0.1:2", moved.IngressUrl);
        Assert.Empty(moved.Process(new RecordSandboxStarted(Id, "node-a", "http://127.0.0.1:2", T0)).Events);
    }
}
