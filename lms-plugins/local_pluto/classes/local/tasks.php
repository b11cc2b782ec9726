<?php
// This file is part of Pluto Bridge's Totara plugin local_pluto.
//
// local_pluto is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.

/**
 * Reading Totara tasks and alerts with their workflow metadata, and the checks
 * totara/message/action.php makes before acting on one.
 *
 * @package    local_pluto
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

namespace local_pluto\local;

defined('MOODLE_INTERNAL') || die();

global $CFG;
require_once($CFG->dirroot . '/totara/message/messagelib.php');

/**
 * Tasks and alerts of the current user.
 */
class tasks {
    /** Workflows that take a reason for the decision (Totara 11+: plan, program extension). */
    const REASON_WORKFLOWS = ['plan', 'prog_extension'];

    /**
     * The processor id of "totara_task" or "totara_alert".
     *
     * @param string $type 'task' or 'alert'
     * @return int|null null when the site lacks that output
     */
    public static function processor_id(string $type): ?int {
        global $DB;
        $id = $DB->get_field('message_processors', 'id', ['name' => 'totara_' . $type]);
        return $id ? (int)$id : null;
    }

    /**
     * A workflow handler (onaccept, onreject) as Totara stored it, or null.
     *
     * @param \stdClass $metadata a message_metadata row
     * @param string $event 'onaccept' or 'onreject'
     * @return \stdClass|null with action, data and the button label
     */
    public static function handler(\stdClass $metadata, string $event): ?\stdClass {
        if (empty($metadata->$event)) {
            return null;
        }
        $handler = unserialize($metadata->$event, ['allowed_classes' => ['stdClass']]);
        return ($handler instanceof \stdClass && !empty($handler->action)) ? $handler : null;
    }

    /**
     * The user's undismissed item with this id, its metadata and its kind, as the
     * ownership check of totara/message/action.php requires.
     *
     * @param int $id notification id
     * @return array [notification row, message_metadata row, 'task'|'alert']
     * @throws \dml_missing_record_exception (table notifications) when there is no such open item
     * @throws \invalid_parameter_exception when it is addressed to someone else
     */
    public static function open_item(int $id): array {
        global $DB, $USER;
        $notification = $DB->get_record('notifications', ['id' => $id], '*', MUST_EXIST);
        if ((int)$notification->useridto !== (int)$USER->id) {
            throw new \invalid_parameter_exception(get_string('notyours', 'local_pluto'));
        }
        foreach (['task', 'alert'] as $type) {
            $processorid = self::processor_id($type);
            if ($processorid === null) {
                continue;
            }
            $metadata = $DB->get_record_select(
                'message_metadata',
                'notificationid = ? AND processorid = ? AND timeread IS NULL',
                [$id, $processorid]
            );
            if ($metadata) {
                return [$notification, $metadata, $type];
            }
        }
        // Already dismissed, accepted or rejected: no open item, answered as an unknown id.
        throw new \dml_missing_record_exception('notifications');
    }

    /**
     * One task or alert as local_pluto_get_tasks lists it.
     *
     * @param \stdClass $row a tm_messages_get() row
     * @param string $type 'task' or 'alert'
     * @return array
     */
    public static function describe(\stdClass $row, string $type): array {
        global $DB;
        $notification = $DB->get_record('notifications', ['id' => $row->id], '*', MUST_EXIST);
        $metadata = $DB->get_record('message_metadata', [
            'notificationid' => $row->id,
            'processorid' => self::processor_id($type),
        ]);
        $onaccept = ($type === 'task' && $metadata) ? self::handler($metadata, 'onaccept') : null;
        $onreject = ($type === 'task' && $metadata) ? self::handler($metadata, 'onreject') : null;
        $islink = (int)$row->msgtype === TOTARA_MSG_TYPE_LINK;
        $html = $notification->fullmessagehtml !== '' && $notification->fullmessagehtml !== null
            ? $notification->fullmessagehtml
            : text_to_html($notification->fullmessage);
        $workflow = $onaccept->action ?? ($onreject->action ?? '');
        return [
            'id' => (int)$row->id,
            'type' => $type,
            'subject' => (string)$row->subject,
            'fullmessagehtml' => format_text($html, FORMAT_HTML, ['context' => \context_system::instance()]),
            'useridfrom' => (int)$row->useridfrom,
            'timecreated' => (int)$row->timecreated,
            'contexturl' => (string)$row->contexturl,
            'contexturlname' => (string)$row->contexturlname,
            'msgtype' => (int)$row->msgtype,
            'msgstatus' => (int)$row->msgstatus,
            'urgency' => (int)$row->urgency,
            'icon' => (string)$row->icon,
            'canaccept' => $onaccept !== null && !$islink,
            'canreject' => $onreject !== null,
            'acceptbutton' => (string)($onaccept->acceptbutton ?? ''),
            'rejectbutton' => (string)($onreject->rejectbutton ?? ''),
            'needsreason' => in_array($workflow, self::REASON_WORKFLOWS, true),
        ];
    }
}
