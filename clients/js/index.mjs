// ES module entry of @sqlite-backplane/signalr-resume: the same code as signalr-resume.js (CommonJS and <script>).
import resume from "./signalr-resume.js";

export const { RESUME_QUERY_PARAMETER, withSqliteBackplaneResume, getSqliteBackplaneResumeState } = resume;
