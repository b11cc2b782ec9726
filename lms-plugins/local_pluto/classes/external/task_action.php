<?php
// This file is part of Pluto Bridge's Totara plugin local_pluto.
//
// local_pluto is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.

/**
 * local_pluto_task_action: accept, reject or dismiss one of the calling user's tasks.
 *
 * @package    local_pluto
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

namespace local_pluto\external;

defined('MOODLE_INTERNAL') || die();

global $CFG;
require_once($CFG->libdir . '/externallib.php');
require_once($CFG->dirroot . '/totara/message/messagelib.php');

use external_api;
use external_function_parameters;
use external_single_structure;
use external_value;
use external_warnings;
use local_pluto\local\tasks;

/**
 * Runs the task's own totara_message workflow handler (seminar approval, program and
 * certification extensions, learning plans, appraisals, 360 feedback), with the checks
 * totara/message/action.php makes: the item must be the caller's, accept needs an onaccept
 * handler and is refused for link tasks, reject needs an onreject handler.
 *
 * Unlike tm_message_task_accept(), the task is dismissed only when its workflow succeeded:
 * a refused decision (a full seminar, say) leaves the task open, so the person can still
 * decide it another way.
 */
class task_action extends external_api {
    /**
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'messageid' => new external_value(PARAM_INT, 'notification id of the task or alert'),
            'action' => new external_value(PARAM_ALPHA, 'accept, reject or dismiss'),
            'reasonfordecision' => new external_value(PARAM_TEXT, 'reason for the decision', VALUE_DEFAULT, ''),
        ]);
    }

    /**
     * @param int $messageid
     * @param string $action
     * @param string $reasonfordecision
     * @return array status, newmessageid, warnings
     */
    public static function execute(int $messageid, string $action, string $reasonfordecision = ''): array {
        $params = self::validate_parameters(self::execute_parameters(), [
            'messageid' => $messageid,
            'action' => $action,
            'reasonfordecision' => $reasonfordecision,
        ]);
        if (!in_array($params['action'], ['accept', 'reject', 'dismiss'], true)) {
            throw new \invalid_parameter_exception('action must be accept, reject or dismiss');
        }
        self::validate_context(\context_system::instance());
        if (isguestuser()) {
            throw new \require_login_exception('Guests have no tasks');
        }
        [$notification, $metadata, $type] = tasks::open_item($params['messageid']);
        $id = (int)$notification->id;

        if ($params['action'] === 'dismiss') {
            tm_message_dismiss($id, 'totara_' . $type);
            return self::answer(true, $id);
        }
        if ($type !== 'task') {
            throw new \invalid_parameter_exception(get_string('alertsonlydismiss', 'local_pluto'));
        }
        $event = $params['action'] === 'accept' ? 'onaccept' : 'onreject';
        $handler = tasks::handler($metadata, $event);
        if ($handler === null) {
            return self::answer(false, $id, 'nohandler', get_string('nohandler', 'local_pluto', $params['action']));
        }
        if ($event === 'onaccept' && (int)$metadata->msgtype === TOTARA_MSG_TYPE_LINK) {
            return self::answer(false, $id, 'linktask', get_string('linktask', 'local_pluto'));
        }
        $workflow = tm_message_workflow_object($handler->action);
        if (!$workflow) {
            return self::answer(false, $id, 'noworkflow', get_string('noworkflow', 'local_pluto', $handler->action));
        }
        $data = isset($handler->data) ? (array)$handler->data : [];
        if ($params['reasonfordecision'] !== '') {
            $data['reasonfordecision'] = $params['reasonfordecision'];
        }
        $result = (bool)$workflow->$event($data, $notification);
        if ($result) {
            $notification->notification = 1;
            tm_message_mark_message_read($notification, time(), null, tasks::processor_id('task'));
        }
        return self::answer($result, $id);
    }

    /**
     * The answer, with one warning when something could not be done.
     *
     * @param bool $status
     * @param int $id
     * @param string|null $code
     * @param string $message
     * @return array
     */
    private static function answer(bool $status, int $id, ?string $code = null, string $message = ''): array {
        $warnings = [];
        if ($code !== null) {
            $warnings[] = ['item' => 'notification', 'itemid' => $id, 'warningcode' => $code, 'message' => $message];
        }
        // Totara 13+ keeps a notification's id when it is read.
        return ['status' => $status, 'newmessageid' => $id, 'warnings' => $warnings];
    }

    /**
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'status' => new external_value(PARAM_BOOL, 'whether it was done'),
            'newmessageid' => new external_value(PARAM_INT, 'the id the item has now'),
            'warnings' => new external_warnings(),
        ]);
    }
}
