using Akka.Actor;
using Miosa.Actors.Common;

namespace Miosa.Actors.Projects;

public sealed class ProjectActor : EventSourcedEntity<ProjectState>
{
    public const string Kind = "project";

    /// <summary>Project slugs are unique within one organization (across its workspaces).</summary>
    public static string SlugScope(string organizationId) => $"projects:{organizationId}";

    public ProjectActor(string projectId) : base(Kind, projectId, ProjectState.Empty(projectId))
    {
        Command<IProjectCommand>(c => Commit(State.Process(c), s => s.ToView()));
    }

    protected override ProjectState Apply(ProjectState state, IMiosaEvent @event) => state.Apply(@event);

    public static Props PropsFor(string projectId) => Props.Create(() => new ProjectActor(projectId));
}
