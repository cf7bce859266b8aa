using Akka.Actor;
using Miosa.Actors.Common;

namespace Miosa.Actors.Workspaces;

public sealed class WorkspaceActor : EventSourcedEntity<WorkspaceState>
{
    public const string Kind = "workspace";

    /// <summary>Workspace slugs are unique within one organization.</summary>
    public static string SlugScope(string organizationId) => $"workspaces:{organizationId}";

    public WorkspaceActor(string workspaceId) : base(Kind, workspaceId, WorkspaceState.Empty(workspaceId))
    {
        Command<IWorkspaceCommand>(c => Commit(State.Process(c), s => s.ToView()));
    }

    protected override WorkspaceState Apply(WorkspaceState state, IMiosaEvent @event) => state.Apply(@event);

    public static Props PropsFor(string workspaceId) => Props.Create(() => new WorkspaceActor(workspaceId));
}
