using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit.Xunit2;
using Miosa.Actors.Common;
using Miosa.Actors.Fleet;
using Miosa.Actors.Previews;
using Miosa.Actors.Routing;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Tests;

public class SandboxActorTests() : TestKit(SerializingTestConfig.Value)
{
    private const string Org = "org_testtesttesttest";

    private static CreateSandbox Create(string id) => new(id, Org,
        new SandboxSpec(id, "miosa-sandbox", new Dictionary<string, string>(), SandboxResources.Default, false),
        900, true, Attribution.None, DateTimeOffset.UtcNow);

    private (IActorRef Sandbox, Akka.TestKit.TestProbe Fleet, Akka.TestKit.TestProbe Host) StartedSandbox(string id)
    {
        var fleet = CreateTestProbe();
        var host = CreateTestProbe();
        var sandbox = Sys.ActorOf(SandboxActor.PropsFor(id, fleet.Ref, ActorRefs.Nobody));
        sandbox.Tell(Create(id), TestActor);
        fleet.ExpectMsg<PlaceSandbox>(p => p.SandboxId == id);
        fleet.Reply(new SandboxPlacement(id, "node-a", "http://127.0.0.1:7000", host.Ref));
        var start = host.ExpectMsg<StartSandboxOnHost>();
        Assert.Equal(id, start.Spec.SandboxId);
        host.Reply(new SandboxStartedOnHost(id, "node-a", "http://127.0.0.1:7000"));
        return (sandbox, fleet, host);
    }

    [Fact]
    public void Create_answers_once_the_host_started_the_sandbox_and_the_state_survives_a_restart()
    {
        var (sandbox, _, _) = StartedSandbox("sbx_one");
        var view = ExpectMsg<SandboxView>();
        Assert.Equal(SandboxStatus.Running, view.Status);
        Assert.Equal("node-a", view.Host);

        Watch(sandbox);
        Sys.Stop(sandbox);
        ExpectTerminated(sandbox);
        var recovered = Sys.ActorOf(SandboxActor.PropsFor("sbx_one", CreateTestProbe().Ref, ActorRefs.Nobody));
        recovered.Tell(new GetSandbox("sbx_one", Org));
        Assert.Equal(SandboxStatus.Running, ExpectMsg<SandboxView>().Status);
        recovered.Tell(new GetSandbox("sbx_one", "org_other"));
        Assert.Equal(404, ExpectMsg<Rejection>().Status);
    }

    [Fact]
    public void Destroy_tells_the_host_and_a_restarted_host_is_told_to_clean_up()
    {
        var (sandbox, fleet, host) = StartedSandbox("sbx_two");
        ExpectMsg<SandboxView>();
        sandbox.Tell(new DestroySandbox("sbx_two", Org, DateTimeOffset.UtcNow));
        Assert.Equal(SandboxStatus.Destroyed, ExpectMsg<SandboxView>().Status);
        fleet.ExpectMsg<FindHost>(f => f.Host == "node-a");
        fleet.Reply(new HostFound("node-a", "http://127.0.0.1:7000", host.Ref));
        host.ExpectMsg<DestroySandboxOnHost>(d => d.SandboxId == "sbx_two");

        sandbox.Tell(new ReconcileSandbox("sbx_two", "node-a"));
        ExpectMsg<DestroySandboxOnHost>();
    }

    [Fact]
    public void A_host_that_cannot_start_the_sandbox_fails_the_create_with_the_reason()
    {
        var fleet = CreateTestProbe();
        var host = CreateTestProbe();
        var sandbox = Sys.ActorOf(SandboxActor.PropsFor("sbx_three", fleet.Ref, ActorRefs.Nobody));
        sandbox.Tell(Create("sbx_three"));
        fleet.ExpectMsg<PlaceSandbox>();
        fleet.Reply(new SandboxPlacement("sbx_three", "node-a", "http://x", host.Ref));
        host.ExpectMsg<StartSandboxOnHost>();
        host.Reply(new SandboxStartFailedOnHost("sbx_three", "node-a", "bwrap: not found"));
        var rejection = ExpectMsg<Rejection>();
        Assert.Equal("sandbox_start_failed", rejection.Code);
        Assert.Contains("bwrap: not found", rejection.Detail);
        sandbox.Tell(new GetSandbox("sbx_three", Org));
        Assert.Equal(SandboxStatus.Failed, ExpectMsg<SandboxView>().Status);
    }

    [Fact]
    public void No_capacity_is_a_503()
    {
        var fleet = CreateTestProbe();
        var sandbox = Sys.ActorOf(SandboxActor.PropsFor("sbx_four", fleet.Ref, ActorRefs.Nobody));
        sandbox.Tell(Create("sbx_four"));
        fleet.ExpectMsg<PlaceSandbox>();
        fleet.Reply(new Rejection("no_capacity", "full", 503));
        Assert.Equal("no_capacity", ExpectMsg<Rejection>().Code);
    }

    [Fact]
    public void Opening_a_preview_answers_after_persisting_and_publishes_the_sandbox_route_to_every_edge()
    {
        var fleet = CreateTestProbe();
        var host = CreateTestProbe();
        var routes = CreateTestProbe();
        const string id = "sbx_previewspreview";
        var sandbox = Sys.ActorOf(SandboxActor.PropsFor(id, fleet.Ref, routes.Ref));
        sandbox.Tell(Create(id), TestActor);
        fleet.ExpectMsg<PlaceSandbox>();
        fleet.Reply(new SandboxPlacement(id, "node-a", "http://127.0.0.1:7000", host.Ref));
        host.ExpectMsg<StartSandboxOnHost>();
        host.Reply(new SandboxStartedOnHost(id, "node-a", "http://127.0.0.1:7000"));
        ExpectMsg<SandboxView>();
        var started = (SandboxRoute)routes.ExpectMsg<Publish>().Message;
        Assert.True(started.Running);

        var previewId = PreviewIds.New(id);
        sandbox.Tell(new OpenPreview(id, Org, previewId, 3000, PreviewVisibility.Public, Attribution.None, DateTimeOffset.UtcNow));
        Assert.Equal(previewId, ExpectMsg<SandboxPreview>().Id);
        var publish = routes.ExpectMsg<Publish>();
        Assert.Equal(RouteTopic.Name, publish.Topic);
        var route = (SandboxRoute)publish.Message;
        Assert.Equal(PreviewVisibility.Public, route.PreviewOn(3000)!.Visibility);
        Assert.True(route.Version > started.Version);

        sandbox.Tell(new DestroySandbox(id, Org, DateTimeOffset.UtcNow));
        ExpectMsg<SandboxView>();
        Assert.Null(((SandboxRoute)routes.ExpectMsg<Publish>().Message).PreviewOn(3000));
    }
}
