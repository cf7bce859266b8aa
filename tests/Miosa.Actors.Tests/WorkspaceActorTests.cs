using Akka.Actor;
using Akka.TestKit.Xunit2;
using Miosa.Actors.Common;
using Miosa.Actors.Projects;
using Miosa.Actors.Workspaces;

namespace Miosa.Actors.Tests;

public class WorkspaceActorTests() : TestKit(SerializingTestConfig.Value)
{
    private const string Org = "org_testtesttesttest";
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_workspace_recovers_its_name_and_deletion_from_its_events()
    {
        const string id = "ws_recovered";
        var first = Sys.ActorOf(WorkspaceActor.PropsFor(id));
        first.Tell(new CreateWorkspace(id, Org, "acme", "Acme", new Attribution(ExternalWorkspaceId: "c-1", Metadata: new Dictionary<string, string> { ["tier"] = "gold" }), T0, "key_a"));
        ExpectMsg<WorkspaceView>();
        first.Tell(new RenameWorkspace(id, Org, "Acme Corp", T0.AddSeconds(1)));
        ExpectMsg<WorkspaceView>();
        Watch(first);
        Sys.Stop(first);
        ExpectTerminated(first);

        var second = Sys.ActorOf(WorkspaceActor.PropsFor(id));
        second.Tell(new GetWorkspace(id, Org));
        var view = ExpectMsg<WorkspaceView>();
        Assert.Equal(("acme", "Acme Corp", "c-1", "gold"), (view.Slug, view.Name, view.Attribution.ExternalWorkspaceId, view.Attribution.Metadata!["tier"]));

        second.Tell(new DeleteWorkspace(id, Org, new Dictionary<string, long> { ["project"] = 1 }, T0));
        Assert.Equal("workspace_not_empty", ExpectMsg<Rejection>().Code);
        second.Tell(new DeleteWorkspace(id, Org, new Dictionary<string, long>(), T0));
        Assert.True(ExpectMsg<WorkspaceView>().Deleted);
        second.Tell(new GetWorkspace(id, Org));
        Assert.Equal("workspace_not_found", ExpectMsg<Rejection>().Code);
    }

    [Fact]
    public void Commands_and_views_cross_nodes_through_the_serializer()
    {
        var holdings = new Dictionary<string, long> { ["sandbox"] = 2 };
        var delete = RoundTrip(new DeleteWorkspace("ws_a", Org, holdings, T0, "key_a"));
        Assert.Equal((2L, "key_a"), (delete.Holdings["sandbox"], delete.ActorKeyId));
        Assert.Equal(2, RoundTrip(new DeleteProject("prj_a", Org, holdings, T0)).Holdings["sandbox"]);
        var view = new ProjectView("prj_a", Org, "ws_a", "app", "App", new Attribution(ExternalProjectId: "p"), false, T0, T0);
        Assert.Equal(view, RoundTrip(view));
    }

    private T RoundTrip<T>(T message) where T : notnull
    {
        var serializer = (Akka.Serialization.SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(message);
        return (T)serializer.FromBinary(serializer.ToBinary(message), serializer.Manifest(message));
    }
}
